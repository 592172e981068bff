package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"policykit/engine"
	"policykit/engine/blocks"
	"policykit/models"
)

// The policy builder (DESIGN §7): a form of blocks beside the code it compiles to and its
// plain-language rule. Every edit re-renders the code, the rule and the inline messages
// through htmx (POST /builder without op); the same POST without htmx renders the whole
// page, so the form works without JavaScript. Other ops are buttons: add or remove a stage,
// detach (edit the code by hand) and re-attach, dry-run, try it, and save, which proposes
// constitution.add_policy or change_policy like any other change. Nothing but save writes.

// builderFacts is what the builder needs to know about the community, loaded once per request.
type builderFacts struct {
	members []models.MemberWithRoles
	roles   []models.RoleWithDetail
	types   []engine.ActionType
	// connected are the platforms connected to the community; actions of others are offered
	// marked, for writing policies in advance.
	connected map[string]bool
	facts     blocks.CommunityFacts
	names     blocks.Names
}

func (h *Handler) builderFacts(ctx context.Context, communityID int64) (*builderFacts, error) {
	ms, err := h.store.Members(ctx, communityID)
	if err != nil {
		return nil, err
	}
	rs, err := h.store.Roles(ctx, communityID)
	if err != nil {
		return nil, err
	}
	connected, err := h.engine.ConnectedPlatforms(ctx, communityID)
	if err != nil {
		return nil, err
	}
	f := &builderFacts{members: ms, roles: rs, types: h.engine.ActionTypes(), connected: connected, facts: blocks.CommunityFacts{
		Members: len(ms), Roles: make(map[string]int, len(rs)), Named: make(map[int64]string, len(ms)), ActionTypes: map[string]string{},
	}}
	for _, r := range rs {
		f.facts.Roles[r.Name] = len(r.MemberIDs)
	}
	for _, m := range ms {
		f.facts.Named[m.ID] = m.DisplayName
	}
	for _, t := range f.types {
		f.facts.ActionTypes[t.Name] = t.Kind()
	}
	f.names = blocks.Names{Members: f.facts.Named, Types: h.engine.ActionLabels()}
	return f, nil
}

// builderDraft is the form read and checked: the policy it would propose, or why not.
type builderDraft struct {
	values   url.Values
	current  *models.Policy // the policy being changed; nil for a new one
	fields   models.PolicyFields
	stages   []engine.StagePolicy
	errs     map[string]string // form key → message
	reattach bool              // code mode: the code has a block program's exact shape
}

func (d *builderDraft) mode() string {
	if d.values.Get(keyMode) == modeCode {
		return modeCode
	}
	return modeBlocks
}

// ok tells whether the draft compiles and fits the community, so it can be tried and saved.
func (d *builderDraft) ok() bool { return len(d.errs) == 0 }

// engineDraft is the draft as the engine's dry-runs take it.
func (d *builderDraft) engineDraft() engine.Draft {
	out := engine.Draft{Policy: d.fields}
	for _, s := range d.stages {
		out.Stages = append(out.Stages, models.PolicyFields{Kind: d.fields.Kind, Name: d.fields.Name, ActionTypes: d.fields.ActionTypes,
			FilterSrc: s.Filter, InitSrc: s.Initialize, NotifySrc: s.Notify, CheckSrc: s.Check, PassSrc: s.Pass, FailSrc: s.Fail, Rule: s.Rule})
	}
	return out
}

// readDraft reads and checks the form: in blocks mode it validates the program against the
// community and compiles it; in code mode it compiles the code and looks for a block
// program's shape in it.
func readDraft(f *builderFacts, current *models.Policy, values url.Values) *builderDraft {
	d := &builderDraft{values: values, current: current, errs: map[string]string{}}
	d.fields = models.PolicyFields{Kind: values.Get("kind"), Name: text(values, "name"), Description: text(values, "description"),
		Mode: values.Get("mode"), ActionTypes: nonEmpty(values["when.action_types"])}
	if d.fields.Kind == "" {
		d.fields.Kind = models.KindPlatform
	}
	if d.fields.Mode == "" {
		d.fields.Mode = models.ModeEnforce
	}
	if d.fields.ActionTypes == nil {
		d.fields.ActionTypes = []string{}
	}
	if current != nil && current.Kind != d.fields.Kind {
		d.errs["kind"] = fmt.Sprintf("a policy's kind cannot change: this is a %s policy; propose a new policy instead", current.Kind)
	}
	if d.mode() == modeCode {
		d.readCode()
		return d
	}
	fp := readProgram(values)
	for k, msg := range fp.errs {
		d.errs[k] = msg
	}
	if err := blocks.Validate(fp.program, f.facts); err != nil {
		fields := models.FieldErrors(err)
		if fields == nil {
			fields = map[string]string{"": err.Error()}
		}
		for path, msg := range fields {
			key := path
			if slot, ok := fp.slots[path]; ok {
				key = slot
			}
			if _, taken := d.errs[key]; !taken {
				d.errs[key] = msg
			}
		}
	}
	if !d.ok() {
		return d
	}
	out, err := blocks.CompilePolicy(fp.program, f.names)
	if err != nil {
		d.errs[""] = err.Error()
		return d
	}
	raw, err := fp.program.Encode()
	if err != nil {
		d.errs[""] = err.Error()
		return d
	}
	d.fields.Kind, d.fields.ActionTypes, d.fields.Blocks, d.fields.Rule = out.Kind, out.ActionTypes, string(raw), out.Rule
	setSources(&d.fields, out.Sources)
	for _, s := range out.Stages {
		src := s.Sources
		d.stages = append(d.stages, engine.StagePolicy{Filter: src.Filter, Initialize: src.Initialize, Notify: src.Notify,
			Check: src.Check, Pass: src.Pass, Fail: src.Fail, Rule: s.Rule})
	}
	return d
}

func setSources(f *models.PolicyFields, s engine.Sources) {
	f.FilterSrc, f.InitSrc, f.NotifySrc, f.CheckSrc, f.PassSrc, f.FailSrc = s.Filter, s.Initialize, s.Notify, s.Check, s.Pass, s.Fail
}

// readCode reads hand-written code: each stage must compile; Detect says whether the code
// could be re-attached to blocks.
func (d *builderDraft) readCode() {
	all := readCode(d.values)
	for i, src := range all {
		if err := engine.CheckPolicy(src); err != nil {
			fields := models.FieldErrors(err)
			if fields == nil {
				d.errs[""] = err.Error()
			}
			for stage, msg := range fields {
				d.errs[codeKey(i, stage)] = msg
			}
		}
	}
	d.fields.Rule = strings.TrimSpace(d.values.Get(keyRule))
	setSources(&d.fields, all[0])
	for _, s := range all[1:] {
		d.stages = append(d.stages, engine.StagePolicy{Initialize: s.Initialize, Notify: s.Notify, Check: s.Check, Pass: s.Pass, Fail: s.Fail})
	}
	_, d.reattach = blocks.Detect(d.fields, all[1:]...)
}

// builderNew opens the builder on an empty policy that passes every platform action; once
// someone decides, a vote has a deadline of 7 days unless changed.
func (h *Handler) builderNew(c *gin.Context) {
	values := url.Values{keyMode: {modeBlocks}, "kind": {models.KindPlatform}, "on_pass.execute": {"on"}, "deadline.after": {defaultDeadline}}
	if c.Query("kind") == models.KindConstitution {
		values.Set("kind", models.KindConstitution)
	}
	h.builderPage(c, http.StatusOK, nil, values, nil)
}

// builderEdit opens an existing policy: the blocks it is attached to (blocks.Attached), else
// its code, detached.
func (h *Handler) builderEdit(c *gin.Context) {
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
	stages, err := h.stageSources(ctx, comm.ID, p)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	fits := true
	var values url.Values
	if prog, attached := blocks.Attached(p.PolicyFields, stages...); attached {
		values, fits = programValues(prog)
	} else {
		values = url.Values{keyMode: {modeCode}, "kind": {p.Kind}, keyRule: {p.Rule}}
		values["when.action_types"] = p.ActionTypes
		codeValues(values, append([]engine.Sources{engine.SourcesOf(&p.PolicyFields)}, stages...))
	}
	values.Set(keyPolicy, strconv.FormatInt(p.ID, 10))
	values.Set("name", p.Name)
	values.Set("description", p.Description)
	values.Set("mode", p.Mode)
	values.Set("priority", strconv.Itoa(p.Priority))
	page := gin.H{}
	if !fits {
		page["Error"] = "This policy's blocks do more than the form can show (several messages or role changes on pass or fail). Saving from this form keeps only what it shows; to keep the rest, edit the code by hand."
	}
	h.builderPage(c, http.StatusOK, p, values, page)
}

// stageSources loads the code of a policy bundle's later stages, in order, in one query.
func (h *Handler) stageSources(ctx context.Context, communityID int64, p *models.Policy) ([]engine.Sources, error) {
	if len(p.Stages) == 0 {
		return nil, nil
	}
	ps, err := h.store.Policies(ctx, communityID)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*models.Policy, len(ps))
	for i := range ps {
		byID[ps[i].ID] = &ps[i]
	}
	out := make([]engine.Sources, 0, len(p.Stages))
	for _, id := range p.Stages {
		s, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("stage policy %d: %w", id, models.ErrNotFound)
		}
		out = append(out, engine.SourcesOf(&s.PolicyFields))
	}
	return out, nil
}

// builderPost handles every button of the builder form; without an op (an htmx edit) it
// answers with the views alone.
func (h *Handler) builderPost(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		h.pageFail(c, bodyError(err))
		return
	}
	ctx := c.Request.Context()
	comm := currentCommunity(c)
	values := c.Request.PostForm
	var current *models.Policy
	if s := values.Get(keyPolicy); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			h.pageFail(c, fmt.Errorf("policy %q: %w", s, models.ErrNotFound))
			return
		}
		if current, err = h.store.PolicyByID(ctx, comm.ID, id); err != nil {
			h.pageFail(c, err)
			return
		}
	}
	op := values.Get("op")
	values.Del("op")
	switch {
	case op == "add_stage":
		values = renumberStages(values, 0)
	case strings.HasPrefix(op, "remove_stage_"):
		n, err := strconv.Atoi(strings.TrimPrefix(op, "remove_stage_"))
		if err != nil || n < 2 || n > stageCount(values)+1 {
			h.pageFail(c, fmt.Errorf("no stage %q to remove: %w", op, errBadRequest))
			return
		}
		values = renumberStages(values, n-1)
	}
	f, err := h.builderFacts(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	d := readDraft(f, current, values)
	switch op {
	case "", "preview":
		if isHTMX(c) {
			sections := builderSections(d.values, d.errs, newBuilderChoices(f))
			out := gin.H{"Preview": preview(d, sections, true)}
			// The tried action's type changed (chosen, or the policy's types did): redraw its
			// parameter controls too.
			if t := tryType(d, f.types); t.Name != d.values.Get("try.shown") {
				params, err := h.tryParamFields(ctx, comm.ID, formView{values: d.values, errs: d.errs}, t)
				if err != nil {
					h.pageFail(c, err)
					return
				}
				params.OOB = true
				out["TryParams"] = &params
			}
			h.renderFragment(c, http.StatusOK, "builder_preview_swap", out)
			return
		}
	case "detach":
		if d.mode() == modeBlocks && !d.ok() {
			h.renderBuilder(c, http.StatusUnprocessableEntity, f, d, gin.H{"Error": "Fix the problems marked below first: the code to edit is what valid blocks compile to."})
			return
		}
		if d.mode() == modeBlocks {
			values.Set(keyMode, modeCode)
			values.Set(keyRule, d.fields.Rule)
			codeValues(values, append([]engine.Sources{engine.SourcesOf(&d.fields)}, stageSourcesOf(d.stages)...))
			d = readDraft(f, current, values)
		}
	case "reattach":
		if d.mode() == modeCode {
			if prog, ok := blocks.Detect(d.fields, stageSourcesOf(d.stages)...); ok {
				keep := values
				values, _ = programValues(prog)
				for _, k := range []string{keyPolicy, "name", "description", "mode", "priority"} {
					values[k] = keep[k]
				}
				d = readDraft(f, current, values)
			}
		}
	case "dryrun":
		dr, err := h.dryRun(ctx, comm, d)
		if err != nil {
			h.pageFail(c, err)
			return
		}
		if isHTMX(c) {
			h.renderFragment(c, http.StatusOK, "builder_dryrun", gin.H{"DryRun": dr})
			return
		}
		h.builderPage(c, http.StatusOK, current, values, gin.H{"DryRun": dr})
		return
	case "tryit":
		tr, err := h.tryIt(ctx, comm, f, d)
		if err != nil {
			h.pageFail(c, err)
			return
		}
		if isHTMX(c) {
			h.renderFragment(c, http.StatusOK, "builder_tryit", gin.H{"TryIt": tr})
			return
		}
		h.builderPage(c, http.StatusOK, current, values, gin.H{"TryIt": tr})
		return
	case "save":
		h.builderSave(c, f, d)
		return
	}
	h.renderBuilder(c, http.StatusOK, f, d, nil)
}

func stageSourcesOf(stages []engine.StagePolicy) []engine.Sources {
	out := make([]engine.Sources, len(stages))
	for i, s := range stages {
		out[i] = s.Sources()
	}
	return out
}

// builderPage loads the facts and renders the whole page for values.
func (h *Handler) builderPage(c *gin.Context, status int, current *models.Policy, values url.Values, page gin.H) {
	f, err := h.builderFacts(c.Request.Context(), currentCommunity(c).ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.renderBuilder(c, status, f, readDraft(f, current, values), page)
}

func (h *Handler) renderBuilder(c *gin.Context, status int, f *builderFacts, d *builderDraft, page gin.H) {
	if page == nil {
		page = gin.H{}
	}
	ch := newBuilderChoices(f)
	v := formView{values: d.values, errs: d.errs}
	sections := builderSections(d.values, d.errs, ch)
	page["Mode"] = d.mode()
	page["Sections"] = sections
	page["Preview"] = preview(d, sections, false)
	page["StageCount"] = stageCount(d.values)
	page["Current"] = d.current
	params, err := h.tryParamFields(c.Request.Context(), currentCommunity(c).ID, v, tryType(d, f.types))
	if err != nil {
		h.pageFail(c, err)
		return
	}
	page["Try"] = tryFields(v, ch, params)
	page["DryN"] = dryField(v)
	h.render(c, status, "builder", page)
}

// builderPreview is the views beside the form: the rule, the code, what is wrong.
type builderPreview struct {
	Mode     string
	Rule     string
	Code     []stageCode
	Problems []problem
	Reattach bool
	Slots    []bField // every control's error slot, swapped out of band after an htmx edit
	Limits   string   // what a program may do, in words (shown with the code)
}

type stageCode struct {
	Stage    int
	Programs []namedSource
}

type namedSource struct{ Name, Src string }

type problem struct{ ID, Label, Message string }

// preview builds the views of a draft whose form is sections; oob adds every control's error
// slot, for an htmx edit.
func preview(d *builderDraft, sections []bSection, oob bool) builderPreview {
	p := builderPreview{Mode: d.mode(), Reattach: d.reattach, Limits: engine.LimitsSentence}
	fields := allFields(sections)
	byName := make(map[string]bField, len(fields))
	for _, fl := range fields {
		byName[fl.Name] = fl
	}
	keys := make([]string, 0, len(d.errs))
	for k := range d.errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fl, ok := byName[k]
		pr := problem{Label: k, Message: d.errs[k]}
		if ok {
			pr.ID, pr.Label = fl.ID, fl.Label
		}
		p.Problems = append(p.Problems, pr)
	}
	if oob {
		p.Slots = fields
	}
	if !d.ok() || d.mode() == modeCode {
		return p
	}
	p.Rule = d.fields.Rule
	for i, src := range append([]engine.Sources{engine.SourcesOf(&d.fields)}, stageSourcesOf(d.stages)...) {
		sc := stageCode{Stage: i + 1}
		for _, n := range []namedSource{{engine.StageFilter, src.Filter}, {engine.StageInitialize, src.Initialize},
			{engine.StageNotify, src.Notify}, {engine.StageCheck, src.Check}, {engine.StagePass, src.Pass}, {engine.StageFail, src.Fail}} {
			if n.Src != "" {
				sc.Programs = append(sc.Programs, n)
			}
		}
		p.Code = append(p.Code, sc)
	}
	return p
}

// builderSave proposes the draft as constitution.add_policy, or change_policy for an
// existing policy; the community's constitution policies decide it.
func (h *Handler) builderSave(c *gin.Context, f *builderFacts, d *builderDraft) {
	if !d.ok() {
		h.renderBuilder(c, http.StatusUnprocessableEntity, f, d, gin.H{"Error": "Fix the problems marked below before proposing."})
		return
	}
	ctx := c.Request.Context()
	comm, me := currentCommunity(c), currentMember(c)
	params, err := h.saveParams(ctx, comm.ID, d)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	typ := engine.TypeAddPolicy
	if d.current != nil {
		typ = engine.TypeChangePolicy
	}
	res, err := h.engine.Submit(ctx, engine.Submission{CommunityID: comm.ID, Type: typ, InitiatorID: me.ID, Params: params, Origin: models.OriginWeb})
	switch {
	case errors.Is(err, models.ErrInvalid):
		general := ""
		for k, msg := range models.FieldErrors(err) {
			if key, ok := savedField(d.mode(), k); ok {
				d.errs[key] = msg
			} else {
				general += fmt.Sprintf("%s: %s. ", k, msg)
			}
		}
		if models.FieldErrors(err) == nil {
			general = err.Error()
		}
		h.renderBuilder(c, http.StatusUnprocessableEntity, f, d, gin.H{"Error": strings.TrimSpace("The proposal was refused. " + general)})
		return
	case errors.Is(err, models.ErrForbidden):
		h.renderBuilder(c, http.StatusForbidden, f, d, gin.H{"Error": err.Error()})
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

// savedField maps a refused parameter of the policy action to the form control showing it.
func savedField(mode, param string) (string, bool) {
	switch param {
	case "name", "description", "priority", "mode", "kind":
		return param, true
	case "action_types":
		return "when.action_types", true
	case "rule":
		return keyRule, mode == modeCode
	}
	for _, st := range engine.Stages() {
		if param == st {
			return codeKey(0, st), mode == modeCode
		}
	}
	return "", false
}

// saveParams are the parameters of the policy action the draft proposes.
func (h *Handler) saveParams(ctx context.Context, communityID int64, d *builderDraft) (map[string]any, error) {
	f := d.fields
	types := make([]any, len(f.ActionTypes))
	for i, t := range f.ActionTypes {
		types[i] = t
	}
	stages := ""
	if len(d.stages) > 0 {
		var err error
		if stages, err = engine.EncodeStagePolicies(d.stages); err != nil {
			return nil, err
		}
	}
	params := map[string]any{"name": f.Name, "description": f.Description, "mode": f.Mode, "action_types": types,
		"blocks": f.Blocks, "filter": f.FilterSrc, "initialize": f.InitSrc, "notify": f.NotifySrc, "check": f.CheckSrc,
		"pass": f.PassSrc, "fail": f.FailSrc, "rule": f.Rule, "stages": []any{}, engine.ParamStagePolicies: stages}
	if d.current != nil {
		params["policy"] = d.current.ID
	} else {
		params["kind"] = f.Kind
	}
	switch pr := text(d.values, "priority"); {
	case pr != "":
		params["priority"] = pr // the engine checks it is a number
	case d.current == nil:
		first, err := h.firstPriority(ctx, communityID, f.Kind)
		if err != nil {
			return nil, err
		}
		params["priority"] = first
	}
	return params, nil
}

// firstPriority is a priority before every policy of a kind, so a new policy is tried before
// the base policy that covers everything.
func (h *Handler) firstPriority(ctx context.Context, communityID int64, kind string) (int64, error) {
	ps, err := h.store.Policies(ctx, communityID)
	if err != nil {
		return 0, err
	}
	first, found := 0, false
	for _, p := range ps {
		if p.Kind == kind && (!found || p.Priority < first) {
			first, found = p.Priority, true
		}
	}
	if !found {
		return 10, nil
	}
	return int64(first) - 10, nil
}
