package handlers

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"policykit/engine"
	"policykit/models"
)

// home is the landing page for visitors and the list of communities for members.
func (h *Handler) home(c *gin.Context) {
	acct := currentAccount(c)
	if acct == nil {
		h.render(c, http.StatusOK, "landing", nil)
		return
	}
	cs, err := h.store.CommunitiesOf(c.Request.Context(), acct.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, http.StatusOK, "home", gin.H{"Communities": cs})
}

type communityInput struct {
	Name string `form:"name" json:"name"`
	Slug string `form:"slug" json:"slug"`
	Kit  string `form:"starter_kit" json:"starter_kit"`
}

// defaultKit is pre-selected on the onboarding form: members decide changes together.
const defaultKit = engine.KitDemocracy

// newCommunityForm is onboarding: name the community and pick a starter kit.
func (h *Handler) newCommunityForm(c *gin.Context) {
	h.render(c, http.StatusOK, "community_new", gin.H{"Form": communityInput{Kit: defaultKit}, "Kits": h.engine.Kits()})
}

func (h *Handler) createCommunity(c *gin.Context) {
	var in communityInput
	if err := c.ShouldBind(&in); err != nil {
		h.pageFail(c, bodyError(err))
		return
	}
	comm, _, err := h.engine.CreateCommunity(c.Request.Context(), models.NewCommunity{Name: in.Name, Slug: in.Slug}, currentAccount(c), in.Kit)
	if errors.Is(err, models.ErrInvalid) {
		h.render(c, http.StatusUnprocessableEntity, "community_new", gin.H{"Form": in, "Errors": models.FieldErrors(err), "Kits": h.engine.Kits()})
		return
	}
	if err != nil {
		h.pageFail(c, err)
		return
	}
	redirect(c, "/c/"+comm.Slug)
}

// policyRow is a policy as the dashboard and the policies page show it.
type policyRow struct {
	models.Policy
	Covers []string // labels of the action types it covers; empty: every action of its kind
	// StageOf is the active policy whose bundle runs this one as stage StageN (such a policy
	// is inactive: it never governs an action on its own).
	StageOf *models.Policy
	StageN  int
}

// policyRows prepares policies for a list. ps must hold every policy of the kinds listed,
// so that later stages find the policy they belong to.
func (h *Handler) policyRows(ps []models.Policy) []policyRow {
	out := make([]policyRow, len(ps))
	stageOf := map[int64]int{} // stage policy id → index of its policy in ps
	stageN := map[int64]int{}
	for i, p := range ps {
		if p.Active {
			for n, id := range p.Stages {
				stageOf[id], stageN[id] = i, n+2
			}
		}
	}
	for i, p := range ps {
		out[i] = policyRow{Policy: p}
		if j, ok := stageOf[p.ID]; ok {
			out[i].StageOf, out[i].StageN = &ps[j], stageN[p.ID]
		}
		for _, t := range p.ActionTypes {
			label := t
			if at, err := h.engine.ActionType(t); err == nil {
				label = at.Label
			}
			out[i].Covers = append(out[i].Covers, label)
		}
	}
	return out
}

// dashboard: what waits for my vote first, then recent decisions, then the rules.
func (h *Handler) dashboard(c *gin.Context) {
	ctx := c.Request.Context()
	comm, me := currentCommunity(c), currentMember(c)
	// The newest open proposals are the ones a member can still act on; older ones are on the
	// proposals page.
	open, err := h.store.ProposalList(ctx, comm.ID, models.ProposalFilter{Status: models.StatusPending, Limit: 200})
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ids := make([]int64, len(open))
	for i, p := range open {
		ids[i] = p.ID
	}
	mine, err := h.store.VotesByMember(ctx, me.ID, ids)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ballots, err := h.store.OpenBallots(ctx, comm.ID, ids)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	var waiting, others []models.ProposalListRow
	for _, p := range open {
		_, voted := mine[p.ID]
		if b := ballots[p.ID]; b != nil && b.ClosedAt == nil && b.IsEligible(me.ID) && !voted {
			waiting = append(waiting, p)
		} else if len(others) < 10 {
			others = append(others, p)
		}
	}
	recent, err := h.store.RecentDecisions(ctx, comm.ID, 10)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	policies, err := h.store.Policies(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	var active []models.Policy
	for _, p := range policies {
		if p.Active {
			active = append(active, p)
		}
	}
	roles, err := h.store.Roles(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	docs, err := h.store.Documents(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	count, err := h.store.CountMembers(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, http.StatusOK, "community", gin.H{
		"Waiting": h.proposalRows(comm.Slug, waiting), "Open": h.proposalRows(comm.Slug, others), "Recent": h.proposalRows(comm.Slug, recent),
		"Policies": h.policyRows(active), "Roles": roles, "Documents": docs, "MemberCount": count,
	})
}

// membersPage lists the members with their roles and linked accounts.
// memberRow is a member as the members page lists it: roles and every linked account.
type memberRow struct {
	models.MemberWithRoles
	Accounts []linkedAccount
}

func (h *Handler) members(c *gin.Context) {
	h.renderMembers(c, "")
}

func (h *Handler) renderMembers(c *gin.Context, link string) {
	ctx := c.Request.Context()
	comm := currentCommunity(c)
	ms, err := h.store.Members(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	conns, err := h.store.Connections(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ids, err := h.store.IdentitiesOfCommunity(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	rows := make([]memberRow, len(ms))
	for i, m := range ms {
		rows[i] = memberRow{MemberWithRoles: m}
		for _, id := range ids[m.ID] {
			rows[i].Accounts = append(rows[i].Accounts, linkedAccount{Label: h.platformLabel(id.Platform), Username: id.Username, ExternalID: id.ExternalID})
		}
	}
	for i := range conns {
		conns[i].Platform = h.platformLabel(conns[i].Platform)
	}
	h.render(c, http.StatusOK, "members", gin.H{"Members": rows, "Connections": conns, "Link": link})
}

// createInvite makes an invite link and shows it (as an htmx fragment or on the members page).
func (h *Handler) createInvite(c *gin.Context) {
	inv, err := h.store.CreateInvite(c.Request.Context(), currentCommunity(c).ID, currentMember(c))
	if err != nil {
		h.pageFail(c, err)
		return
	}
	link := h.cfg.BaseURL + "/invite/" + inv.Code
	if isHTMX(c) {
		h.renderFragment(c, http.StatusOK, "invite_link", gin.H{"Link": link})
		return
	}
	h.renderMembers(c, link)
}

func (h *Handler) inviteForm(c *gin.Context) {
	_, comm, err := h.store.InviteByCode(c.Request.Context(), c.Param("code"))
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, http.StatusOK, "invite", gin.H{"Invited": comm, "Code": c.Param("code")})
}

func (h *Handler) acceptInvite(c *gin.Context) {
	comm, _, err := h.store.AcceptInvite(c.Request.Context(), c.Param("code"), currentAccount(c))
	if err != nil {
		h.pageFail(c, err)
		return
	}
	redirect(c, "/c/"+comm.Slug)
}
