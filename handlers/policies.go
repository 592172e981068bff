package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"policykit/engine"
	"policykit/models"
)

// Policies are read here; adding, changing, removing, recovering and reordering them are
// constitution actions proposed with the propose form (its code view edits the stages).

func (h *Handler) policies(c *gin.Context) {
	ps, err := h.store.Policies(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	var constitution, platform []models.Policy
	for _, p := range ps {
		if p.Kind == models.KindConstitution {
			constitution = append(constitution, p)
		} else {
			platform = append(platform, p)
		}
	}
	h.render(c, http.StatusOK, "policies", gin.H{
		"Constitution": h.policyRows(constitution), "Platform": h.policyRows(platform),
	})
}

// policy shows a policy: its rule, code, versions, and with ?from=N&to=M the changes
// between two versions (by default the latest change).
func (h *Handler) policy(c *gin.Context) {
	id, err := idParam(c, "id")
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ctx := c.Request.Context()
	comm := currentCommunity(c)
	p, err := h.store.PolicyByID(ctx, comm.ID, id)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	versions, err := h.store.PolicyVersions(ctx, comm.ID, id)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	byNumber := make(map[int]*models.PolicyVersion, len(versions))
	for i := range versions {
		byNumber[versions[i].Version] = &versions[i]
	}
	row := h.policyRows([]models.Policy{*p})[0]
	if !p.Active { // a later stage of a bundle is inactive too: say whose stage it is
		all, err := h.store.Policies(ctx, comm.ID)
		if err != nil {
			h.pageFail(c, err)
			return
		}
		for _, r := range h.policyRows(all) {
			if r.ID == p.ID {
				row = r
			}
		}
	}
	data := gin.H{"Policy": row, "Versions": versions, "Stages": engine.Stages(),
		"Sources": policyText(&p.PolicyFields)}
	if len(versions) > 1 || c.Query("from") != "" {
		from, err := queryVersion(c, "from", max(p.Version-1, 1), byNumber)
		if err != nil {
			h.pageFail(c, err)
			return
		}
		to, err := queryVersion(c, "to", p.Version, byNumber)
		if err != nil {
			h.pageFail(c, err)
			return
		}
		data["From"], data["To"] = from, to
		data["Diff"] = diffFields(policyFieldNames, policyText(&from.PolicyFields), policyText(&to.PolicyFields))
	}
	recent, err := h.store.ProposalList(ctx, comm.ID, models.ProposalFilter{PolicyID: p.ID, Limit: 10})
	if err != nil {
		h.pageFail(c, err)
		return
	}
	data["Recent"] = h.proposalRows(comm.Slug, recent)
	if p.Mode == models.ModeDryRun {
		if data["Agreement"], err = h.engine.ShadowAgreement(ctx, comm.ID, p.ID); err != nil {
			h.pageFail(c, err)
			return
		}
	}
	h.render(c, http.StatusOK, "policy", data)
}

// compileCheck compiles one stage of policy code for the code view, which marks the errors
// as the member types (static/src/editor.js): {"problems": [{line, column, message}]},
// empty when it compiles. Nothing is written.
func (h *Handler) compileCheck(c *gin.Context) {
	type problem struct {
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Message string `json:"message"`
	}
	problems := []problem{}
	if ce := engine.CheckStage(c.PostForm("stage"), c.PostForm("source")); ce != nil {
		problems = append(problems, problem{Line: ce.Line, Column: ce.Column, Message: ce.Message})
	}
	c.JSON(http.StatusOK, gin.H{"problems": problems})
}
