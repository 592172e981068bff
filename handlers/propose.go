package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"policykit/engine"
	"policykit/models"
)

// typeGroup is the action types of one platform, for the propose index.
type typeGroup struct {
	Platform string
	Types    []engine.ActionType
}

func groupTypes(ts []engine.ActionType) []typeGroup {
	var out []typeGroup
	for _, t := range ts {
		if len(out) == 0 || out[len(out)-1].Platform != t.Platform {
			out = append(out, typeGroup{Platform: t.Platform})
		}
		out[len(out)-1].Types = append(out[len(out)-1].Types, t)
	}
	return out
}

// proposeIndex lists every action a member can propose, by platform: those of platforms
// not connected to the community cannot be carried out, so they are only named.
func (h *Handler) proposeIndex(c *gin.Context) {
	connected, err := h.engine.ConnectedPlatforms(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	var offered []engine.ActionType
	var later []string
	for _, t := range h.engine.ActionTypes() {
		switch {
		case t.Platform == engine.ConstitutionPlatform || connected[t.Platform]:
			offered = append(offered, t)
		case !slices.Contains(later, engine.PlatformLabel(t.Platform)):
			later = append(later, engine.PlatformLabel(t.Platform))
		}
	}
	h.render(c, http.StatusOK, "propose_index", gin.H{"Groups": groupTypes(offered), "Later": later})
}

// notConnected says why an action of a platform not connected to the community cannot be
// proposed, or "" when it can.
func (h *Handler) notConnected(ctx context.Context, communityID int64, t engine.ActionType) (string, error) {
	if t.Platform == engine.ConstitutionPlatform {
		return "", nil
	}
	connected, err := h.engine.ConnectedPlatforms(ctx, communityID)
	if err != nil || connected[t.Platform] {
		return "", err
	}
	return fmt.Sprintf("%s is not connected to this community, so “%s” cannot be proposed yet.", engine.PlatformLabel(t.Platform), t.Label), nil
}

// proposeForm shows the form of one action type, prefilled from the query (for example
// ?document=3 fills a document change with the document's current text).
func (h *Handler) proposeForm(c *gin.Context) {
	t, err := h.engine.ActionType(c.Param("type"))
	if err != nil {
		h.pageFail(c, fmt.Errorf("action type %q: %w", c.Param("type"), models.ErrNotFound))
		return
	}
	values, err := h.prefill(c.Request.Context(), currentCommunity(c), t, c.Request.URL.Query())
	if err != nil {
		h.pageFail(c, err)
		return
	}
	why, err := h.notConnected(c.Request.Context(), currentCommunity(c).ID, t)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.renderProposeForm(c, http.StatusOK, t, values, nil, why)
}

// propose submits a generated form as an action of the type, governed by the policies.
func (h *Handler) propose(c *gin.Context) {
	t, err := h.engine.ActionType(c.Param("type"))
	if err != nil {
		h.pageFail(c, fmt.Errorf("action type %q: %w", c.Param("type"), models.ErrNotFound))
		return
	}
	if err := c.Request.ParseForm(); err != nil {
		h.pageFail(c, bodyError(err))
		return
	}
	params, errs := paramsFromForm(t, c.Request.PostForm)
	if len(errs) > 0 {
		h.renderProposeForm(c, http.StatusUnprocessableEntity, t, params, errs, "")
		return
	}
	comm, me := currentCommunity(c), currentMember(c)
	res, err := h.engine.Submit(c.Request.Context(), engine.Submission{
		CommunityID: comm.ID, Type: t.Name, InitiatorID: me.ID, Params: params, Origin: models.OriginWeb,
	})
	switch {
	case errors.Is(err, models.ErrInvalid):
		fields := models.FieldErrors(err)
		general := ""
		if fields == nil {
			general = err.Error()
		}
		for k, msg := range fields {
			if !hasParam(t, k) {
				general += fmt.Sprintf("%s: %s. ", k, msg)
			}
		}
		h.renderProposeForm(c, http.StatusUnprocessableEntity, t, params, fields, general)
		return
	case errors.Is(err, models.ErrForbidden):
		h.renderProposeForm(c, http.StatusForbidden, t, params, nil, err.Error())
		return
	case err != nil:
		h.pageFail(c, err)
		return
	}
	if res.Proposal != nil {
		redirect(c, fmt.Sprintf("/c/%s/proposals/%d", comm.Slug, res.Proposal.ID))
		return
	}
	redirect(c, fmt.Sprintf("/c/%s/actions/%d", comm.Slug, res.Action.ID))
}

func hasParam(t engine.ActionType, name string) bool {
	for _, p := range t.Params {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (h *Handler) renderProposeForm(c *gin.Context, status int, t engine.ActionType, values map[string]any, errs map[string]string, general string) {
	ch, err := h.loadChoices(c.Request.Context(), currentCommunity(c).ID, t)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, status, "propose", gin.H{
		"Type": t, "Fields": buildFields(t, values, errs, ch), "Error": general,
		"HasCode": needs(t, engine.ParamCode),
	})
}

// prefill fills a form from the query and, for changes, from the current state of what is
// changed, so a member edits instead of retyping.
func (h *Handler) prefill(ctx context.Context, comm *models.Community, t engine.ActionType, q url.Values) (map[string]any, error) {
	values := map[string]any{}
	for _, p := range t.Params {
		if vs, ok := q[p.Name]; ok && len(vs) > 0 {
			values[p.Name] = vs[0]
		}
	}
	id := func(key string) int64 {
		n, _ := strconv.ParseInt(q.Get(key), 10, 64)
		return n
	}
	switch t.Name {
	case engine.TypeChangePolicy, engine.TypeReorderPolicy:
		if id("policy") == 0 {
			return values, nil
		}
		p, err := h.store.PolicyByID(ctx, comm.ID, id("policy"))
		if err != nil {
			return nil, err
		}
		values["priority"] = p.Priority
		if t.Name == engine.TypeChangePolicy {
			f := p.PolicyFields
			for k, v := range map[string]any{"name": f.Name, "description": f.Description, "action_types": f.ActionTypes,
				"mode": f.Mode, "blocks": f.Blocks, "filter": f.FilterSrc, "initialize": f.InitSrc, "notify": f.NotifySrc,
				"check": f.CheckSrc, "pass": f.PassSrc, "fail": f.FailSrc, "stages": f.Stages, "rule": f.Rule} {
				values[k] = v
			}
		}
	case engine.TypeEditRole:
		if id("role") == 0 {
			return values, nil
		}
		rs, err := h.store.Roles(ctx, comm.ID)
		if err != nil {
			return nil, err
		}
		found := false
		for _, r := range rs {
			if r.ID == id("role") {
				values["name"], values["description"], values["permissions"] = r.Name, r.Description, r.Permissions
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("role: %w", models.ErrNotFound)
		}
	case engine.TypeChangeDocument:
		if id("document") == 0 {
			return values, nil
		}
		if _, err := h.store.DocumentByID(ctx, comm.ID, id("document")); err != nil {
			return nil, err
		}
		vs, err := h.store.DocumentVersions(ctx, comm.ID, id("document"))
		if err != nil {
			return nil, err
		}
		values["title"], values["body"] = vs[0].Title, vs[0].Body
	case engine.TypeChangeSettings:
		values["name"], values["description"] = comm.Name, comm.ParsedSettings().Description
	case engine.TypeAddPolicy:
		if values["kind"] == nil {
			values["kind"] = models.KindConstitution
		}
		values["mode"] = models.ModeEnforce
	}
	return values, nil
}

// actionPage shows an action that was decided without a proposal (a permission let it
// stand) or links to its proposals.
func (h *Handler) actionPage(c *gin.Context) {
	id, err := idParam(c, "id")
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ctx := c.Request.Context()
	comm := currentCommunity(c)
	a, err := h.store.ActionByID(ctx, comm.ID, id)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ps, err := h.store.ProposalsOfAction(ctx, a.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.render(c, http.StatusOK, "action", gin.H{"Action": a, "Summary": h.engine.Describe(a), "Proposals": ps})
}
