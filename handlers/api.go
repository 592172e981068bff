package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"policykit/engine"
	"policykit/models"
)

// The JSON API mirrors the pages for scripts and integrations. Every route is described in
// openapi.json, and a test keeps the two in step.

// bindJSON decodes a request body strictly: malformed JSON, unknown fields and trailing
// data are 400, a body past the size limit is 413.
func bindJSON(c *gin.Context, dst any) error {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("the body must be a JSON object: %w", errBadRequest)
		}
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("unexpected data after the JSON object: %w", errBadRequest)
	}
	return nil
}

type apiCommunity struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

type apiMember struct {
	ID    int64    `json:"id"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// apiMe answers who the token belongs to and their communities.
func (h *Handler) apiMe(c *gin.Context) {
	acct := currentAccount(c)
	cs, err := h.store.CommunitiesOf(c.Request.Context(), acct.ID)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	out := make([]apiCommunity, len(cs))
	for i, x := range cs {
		out[i] = apiCommunity{Slug: x.Slug, Name: x.Name}
	}
	c.JSON(http.StatusOK, gin.H{"id": acct.ID, "email": acct.Email, "name": acct.Name, "communities": out})
}

func (h *Handler) apiCreateCommunity(c *gin.Context) {
	var in communityInput
	if err := bindJSON(c, &in); err != nil {
		h.apiFail(c, err)
		return
	}
	comm, m, err := h.engine.CreateCommunity(c.Request.Context(), models.NewCommunity{Name: in.Name, Slug: in.Slug}, currentAccount(c), in.Kit)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"community": apiCommunity{comm.Slug, comm.Name}, "member": apiMember{ID: m.ID, Name: m.DisplayName, Roles: []string{}}})
}

func (h *Handler) apiCreateInvite(c *gin.Context) {
	inv, err := h.store.CreateInvite(c.Request.Context(), currentCommunity(c).ID, currentMember(c))
	if err != nil {
		h.apiFail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"code": inv.Code, "url": h.cfg.BaseURL + "/invite/" + inv.Code})
}

func (h *Handler) apiAcceptInvite(c *gin.Context) {
	comm, m, err := h.store.AcceptInvite(c.Request.Context(), c.Param("code"), currentAccount(c))
	if err != nil {
		h.apiFail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"community": apiCommunity{comm.Slug, comm.Name}, "member": apiMember{ID: m.ID, Name: m.DisplayName, Roles: []string{}}})
}

func (h *Handler) apiActionTypes(c *gin.Context) {
	type apiType struct {
		engine.ActionType
		Kind string `json:"kind"`
	}
	ts := h.engine.ActionTypes()
	out := make([]apiType, len(ts))
	for i, t := range ts {
		if t.Params == nil {
			t.Params = []engine.Param{}
		}
		out[i] = apiType{ActionType: t, Kind: t.Kind()}
	}
	c.JSON(http.StatusOK, gin.H{"action_types": out})
}

type apiAction struct {
	ID          int64          `json:"id"`
	Type        string         `json:"type"`
	Summary     string         `json:"summary"`
	Params      map[string]any `json:"params"`
	Status      string         `json:"status"`
	Origin      string         `json:"origin"`
	Note        string         `json:"note"`
	InitiatorID *int64         `json:"initiator_id"`
	CreatedAt   time.Time      `json:"created_at"`
}

type apiPolicyRef struct {
	ID        *int64 `json:"id"`
	Name      string `json:"name"`
	Version   int    `json:"version"`
	VersionID int64  `json:"version_id"`
}

type apiProposal struct {
	ID        int64          `json:"id"`
	Status    string         `json:"status"` // models.Outcome
	Reason    string         `json:"reason,omitempty"`
	Stage     int            `json:"stage"`
	Action    apiActionRef   `json:"action"`
	Policy    apiPolicyRef   `json:"policy"`
	Rule      string         `json:"rule,omitempty"`
	Error     string         `json:"error,omitempty"`
	Ballot    *models.Ballot `json:"ballot"`
	CreatedAt time.Time      `json:"created_at"`
	DecidedAt *time.Time     `json:"decided_at"`
	// Detail only.
	Tally    *engine.Tally `json:"tally,omitempty"`
	MyVote   any           `json:"my_vote,omitempty"`
	Deadline *time.Time    `json:"deadline,omitempty"`
}

type apiActionRef struct {
	ID          int64          `json:"id"`
	Type        string         `json:"type"`
	Summary     string         `json:"summary"`
	Params      map[string]any `json:"params"`
	Status      string         `json:"status"`
	InitiatorID *int64         `json:"initiator_id"`
}

func toAPIProposal(r proposalRow) apiProposal {
	params := r.ActionParams
	if params == nil {
		params = map[string]any{}
	}
	return apiProposal{ID: r.ID, Status: r.Outcome.Status, Reason: r.Outcome.Reason, Stage: r.Stage, Rule: r.Rule, Error: r.Error, Ballot: r.Ballot,
		CreatedAt: r.CreatedAt, DecidedAt: r.DecidedAt,
		Action: apiActionRef{ID: r.ActionID, Type: r.ActionType, Summary: r.Summary, Params: params, Status: r.ActionStatus, InitiatorID: r.InitiatorID},
		Policy: apiPolicyRef{ID: r.PolicyID, Name: r.PolicyName, Version: r.PolicyVersion, VersionID: r.PolicyVersionID}}
}

func toAPIProposalDetail(d *proposalDetail) apiProposal {
	out := toAPIProposal(d.proposalRow)
	out.Tally, out.Deadline = d.Tally, d.Deadline
	if d.MyVote != nil {
		out.MyVote = d.MyVote.Value
	}
	return out
}

type proposeInput struct {
	Type   string         `json:"type"`
	Params map[string]any `json:"params"`
}

// apiPropose governs an action: 201 with the action and, unless a permission decided it at
// once, its proposal.
func (h *Handler) apiPropose(c *gin.Context) {
	var in proposeInput
	if err := bindJSON(c, &in); err != nil {
		h.apiFail(c, err)
		return
	}
	if in.Params == nil {
		in.Params = map[string]any{}
	}
	ctx := c.Request.Context()
	comm, me := currentCommunity(c), currentMember(c)
	res, err := h.engine.Submit(ctx, engine.Submission{CommunityID: comm.ID, Type: in.Type, InitiatorID: me.ID, Params: in.Params, Origin: models.OriginAPI})
	if err != nil {
		h.apiFail(c, err)
		return
	}
	a := res.Action
	out := gin.H{"action": apiAction{ID: a.ID, Type: a.Type, Summary: h.engine.Describe(a), Params: a.Params, Status: a.Status,
		Origin: a.Origin, Note: a.Note, InitiatorID: a.InitiatorID, CreatedAt: a.CreatedAt}, "proposal": nil}
	if res.Proposal != nil {
		d, err := h.loadProposal(ctx, comm, me, res.Proposal.ID)
		if err != nil {
			h.apiFail(c, err)
			return
		}
		out["proposal"] = toAPIProposalDetail(d)
	}
	c.JSON(http.StatusCreated, out)
}

func (h *Handler) apiProposals(c *gin.Context) {
	f, err := proposalFilter(c.Request.URL.Query())
	if err != nil {
		h.apiFail(c, err)
		return
	}
	rows, err := h.store.ProposalList(c.Request.Context(), currentCommunity(c).ID, f)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	out := make([]apiProposal, len(rows))
	for i, r := range rows {
		out[i] = toAPIProposal(h.proposalRow(r))
	}
	var next *int64
	if len(rows) == f.Limit {
		next = &rows[len(rows)-1].ID
	}
	c.JSON(http.StatusOK, gin.H{"proposals": out, "next_before": next})
}

func (h *Handler) apiProposal(c *gin.Context) {
	id, err := idParam(c, "id")
	if err != nil {
		h.apiFail(c, err)
		return
	}
	d, err := h.loadProposal(c.Request.Context(), currentCommunity(c), currentMember(c), id)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	c.JSON(http.StatusOK, toAPIProposalDetail(d))
}

type voteInput struct {
	Value any `json:"value"`
}

func (h *Handler) apiVote(c *gin.Context) {
	id, err := idParam(c, "id")
	if err != nil {
		h.apiFail(c, err)
		return
	}
	var in voteInput
	if err := bindJSON(c, &in); err != nil {
		h.apiFail(c, err)
		return
	}
	ctx := c.Request.Context()
	comm, me := currentCommunity(c), currentMember(c)
	res, err := h.engine.CastVote(ctx, comm.ID, id, me.ID, in.Value, "api")
	if err != nil {
		h.apiFail(c, err)
		return
	}
	d, err := h.loadProposal(ctx, comm, me, id)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"proposal": toAPIProposalDetail(d), "changed": res.Changed})
}

func (h *Handler) apiPolicies(c *gin.Context) {
	ps, err := h.store.Policies(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	type policy struct {
		ID          int64             `json:"id"`
		Kind        string            `json:"kind"`
		Name        string            `json:"name"`
		Description string            `json:"description"`
		Rule        string            `json:"rule"`
		Priority    int               `json:"priority"`
		ActionTypes []string          `json:"action_types"`
		Mode        string            `json:"mode"`
		Active      bool              `json:"active"`
		Version     int               `json:"version"`
		Stages      []int64           `json:"stages"`
		Sources     map[string]string `json:"sources"`
		LastError   string            `json:"last_error"`
	}
	out := make([]policy, len(ps))
	for i, p := range ps {
		f := p.PolicyFields
		out[i] = policy{ID: p.ID, Kind: f.Kind, Name: f.Name, Description: f.Description, Rule: f.Rule, Priority: f.Priority,
			ActionTypes: nonNil(f.ActionTypes), Mode: f.Mode, Active: f.Active, Version: p.Version, Stages: nonNil(f.Stages),
			LastError: p.LastError, Sources: map[string]string{"filter": f.FilterSrc, "initialize": f.InitSrc,
				"notify": f.NotifySrc, "check": f.CheckSrc, "pass": f.PassSrc, "fail": f.FailSrc}}
	}
	c.JSON(http.StatusOK, gin.H{"policies": out})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (h *Handler) apiRoles(c *gin.Context) {
	rs, err := h.store.Roles(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	type perm struct {
		ActionType string `json:"action_type"`
		Propose    bool   `json:"propose"`
		Execute    bool   `json:"execute"`
	}
	type role struct {
		ID          int64   `json:"id"`
		Name        string  `json:"name"`
		Description string  `json:"description"`
		IsBase      bool    `json:"is_base"`
		Permissions []perm  `json:"permissions"`
		MemberIDs   []int64 `json:"member_ids"`
	}
	out := make([]role, len(rs))
	for i, r := range rs {
		out[i] = role{ID: r.ID, Name: r.Name, Description: r.Description, IsBase: r.IsBase, Permissions: []perm{}, MemberIDs: nonNil(r.MemberIDs)}
		for _, p := range r.Permissions {
			out[i].Permissions = append(out[i].Permissions, perm{p.ActionType, p.Propose, p.Execute})
		}
	}
	c.JSON(http.StatusOK, gin.H{"roles": out})
}

func (h *Handler) apiMembers(c *gin.Context) {
	ms, err := h.store.Members(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	out := make([]apiMember, len(ms))
	for i, m := range ms {
		out[i] = apiMember{ID: m.ID, Name: m.DisplayName, Roles: nonNil(m.Roles)}
	}
	c.JSON(http.StatusOK, gin.H{"members": out})
}

func (h *Handler) apiDocuments(c *gin.Context) {
	docs, err := h.store.Documents(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	type document struct {
		ID        int64     `json:"id"`
		Title     string    `json:"title"`
		Version   int       `json:"version"`
		Body      string    `json:"body"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	out := make([]document, len(docs))
	for i, d := range docs {
		out[i] = document{ID: d.ID, Title: d.Title, Version: d.CurrentVersion, Body: d.Body, UpdatedAt: d.UpdatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"documents": out})
}

func (h *Handler) apiAudit(c *gin.Context) {
	a, f, err := parseAuditQuery(c.Request.URL.Query())
	if err != nil {
		h.apiFail(c, err)
		return
	}
	f.Limit = auditPageSize
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			h.apiFail(c, fmt.Errorf("limit must be between 1 and 1000: %w", errBadRequest))
			return
		}
		f.Limit = n
	}
	events, err := h.store.AuditPage(c.Request.Context(), currentCommunity(c).ID, f, a.Before)
	if err != nil {
		h.apiFail(c, err)
		return
	}
	out := make([]auditEvent, len(events))
	for i, e := range events {
		out[i] = toAuditEvent(e)
	}
	var next *int64
	if len(events) == f.Limit {
		next = &events[len(events)-1].Seq
	}
	c.JSON(http.StatusOK, gin.H{"events": out, "next_before": next})
}
