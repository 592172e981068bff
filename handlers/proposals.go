package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"policykit/engine"
	"policykit/models"
)

// proposalRow is a proposal as lists show it.
type proposalRow struct {
	models.ProposalListRow
	Summary   string
	TypeLabel string
	Outcome   outcomeView
}

// listItem is a proposal as a table row shows it: flat and preformatted, because a list
// page renders fifty of them and templates pay for every field lookup and function call.
type listItem struct {
	ID                      int64
	URL, Summary, TypeLabel string
	Outcome                 outcomeView
	Policy, Initiator       string
	CreatedAgo, CreatedISO  string
}

func (h *Handler) proposalRows(slug string, rows []models.ProposalListRow) []listItem {
	out := make([]listItem, len(rows))
	for i, r := range rows {
		row := h.proposalRow(r)
		out[i] = listItem{ID: r.ID, URL: fmt.Sprintf("/c/%s/proposals/%d", slug, r.ID), Summary: row.Summary,
			TypeLabel: row.TypeLabel, Outcome: row.Outcome, Policy: fmt.Sprintf("%s v%d", r.PolicyName, r.PolicyVersion),
			Initiator: r.InitiatorName, CreatedAgo: ago(r.CreatedAt), CreatedISO: r.CreatedAt.UTC().Format(time.RFC3339)}
		if out[i].Initiator == "" {
			out[i].Initiator = "—"
		}
	}
	return out
}

// selectOptions marks the chosen option, so templates test a field instead of calling eq.
func selectOptions(opts []option, chosen string) []selectOption {
	out := make([]selectOption, len(opts))
	for i, o := range opts {
		out[i] = selectOption{Value: o.Value, Label: o.Label, Selected: o.Value == chosen}
	}
	return out
}

type selectOption struct {
	Value, Label string
	Selected     bool
}

func (h *Handler) proposalRow(r models.ProposalListRow) proposalRow {
	a := &models.Action{Type: r.ActionType, Params: r.ActionParams}
	label := r.ActionType
	if t, err := h.engine.ActionType(r.ActionType); err == nil {
		label = t.Label
	}
	return proposalRow{ProposalListRow: r, Summary: h.engine.Describe(a), TypeLabel: label, Outcome: outcomeOf(r)}
}

// proposalFilter reads the list filters from a query string; bad values are 400.
func proposalFilter(q url.Values) (models.ProposalFilter, error) {
	f := models.ProposalFilter{Status: q.Get("status"), ActionType: q.Get("type")}
	switch f.Status {
	case "", models.StatusPending, models.StatusPassed, models.StatusFailed, models.StatusNotCarriedOut:
	default:
		return f, fmt.Errorf("status must be pending, passed, failed or not_carried_out: %w", errBadRequest)
	}
	for key, dst := range map[string]*int64{"policy": &f.PolicyID, "before": &f.BeforeID} {
		if s := q.Get(key); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return f, fmt.Errorf("%s must be an id: %w", key, errBadRequest)
			}
			*dst = n
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			return f, fmt.Errorf("limit must be between 1 and 200: %w", errBadRequest)
		}
		f.Limit = n
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	return f, nil
}

func (h *Handler) proposals(c *gin.Context) {
	f, err := proposalFilter(c.Request.URL.Query())
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ctx := c.Request.Context()
	comm := currentCommunity(c)
	rows, err := h.store.ProposalList(ctx, comm.ID, f)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	policies, err := h.store.Policies(ctx, comm.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	next := ""
	if len(rows) == f.Limit {
		q := c.Request.URL.Query()
		q.Set("before", strconv.FormatInt(rows[len(rows)-1].ID, 10))
		next = "?" + q.Encode()
	}
	var types, pols []option
	for _, t := range h.engine.ActionTypes() {
		types = append(types, option{t.Name, fmt.Sprintf("%s (%s)", t.Label, t.Name)})
	}
	for _, p := range policies {
		pols = append(pols, option{strconv.FormatInt(p.ID, 10), p.Name})
	}
	policy := ""
	if f.PolicyID != 0 {
		policy = strconv.FormatInt(f.PolicyID, 10)
	}
	h.render(c, http.StatusOK, "proposals", gin.H{
		"Rows": h.proposalRows(comm.Slug, rows), "Next": next,
		"Statuses": selectOptions([]option{{"pending", "pending"}, {"passed", "passed"}, {"failed", "failed"},
			{models.StatusNotCarriedOut, "approved, but not carried out"}}, f.Status),
		"Types": selectOptions(types, f.ActionType), "Policies": selectOptions(pols, policy),
	})
}

// proposalDetail is everything the proposal page shows.
type proposalDetail struct {
	proposalRow
	Params   []paramLine
	Tally    *engine.Tally
	Bars     []tallyBar
	MyVote   *myVote
	CanVote  bool
	Eligible []string
	Deadline *time.Time
	Timeline []timelineEntry
	Effects  []models.Effect
	Stages   []models.Proposal
	Changes  []fieldDiff
}

type paramLine struct {
	Label, Value string
	Long         bool // text or code: shown as a block
}

type tallyBar struct {
	Label   string
	Count   int
	Percent int // of the eligible voters
}

type myVote struct {
	Value any    // decoded
	Text  string // for people
	At    time.Time
}

type timelineEntry struct {
	At   time.Time
	Kind string
	Text string
}

// loadProposal reads a proposal and everything its page shows, set-wise: one query each for
// the proposal row (with its policy version), votes, timeline, effects, the members named on
// the page, and stages of a bundle.
func (h *Handler) loadProposal(ctx context.Context, comm *models.Community, me *models.Member, id int64) (*proposalDetail, error) {
	row, err := h.store.ProposalDetail(ctx, comm.ID, id)
	if err != nil {
		return nil, err
	}
	d := &proposalDetail{proposalRow: h.proposalRow(*row)}
	if d.Outcome.Status == models.StatusNotCarriedOut {
		a, err := h.store.ActionByID(ctx, comm.ID, row.ActionID)
		if err != nil {
			return nil, err
		}
		d.Outcome.CanRetry = h.engine.CanRetry(ctx, comm, a)
		d.Outcome.RetryURL = fmt.Sprintf("/c/%s/proposals/%d/retry", comm.Slug, row.ID)
	}
	b := row.Ballot
	if row.Status == models.StatusPending {
		v := &models.PolicyVersion{PolicyFields: models.PolicyFields{CheckSrc: row.PolicyCheckSrc}}
		if at, ok := engine.Deadline(v, &row.Proposal); ok {
			d.Deadline = &at
		}
	}
	votes, err := h.store.VotesOf(ctx, []int64{row.ID})
	if err != nil {
		return nil, err
	}
	events, err := h.store.ProposalTimeline(ctx, comm.ID, row.ID, row.ActionID)
	if err != nil {
		return nil, err
	}
	if d.Effects, err = h.store.ActionEffects(ctx, comm.ID, row.ID, row.ActionID); err != nil {
		return nil, err
	}
	// Only a policy bundle has stages to list.
	if row.Stage > 0 || len(row.PolicyStages) > 0 {
		if d.Stages, err = h.store.ProposalsOfAction(ctx, row.ActionID); err != nil {
			return nil, err
		}
	}
	// Everyone the page names (voters, people in the timeline and the parameters), in one query.
	ids := map[int64]bool{}
	if b != nil {
		for _, id := range b.Eligible {
			ids[id] = true
		}
	}
	for _, ev := range events {
		if ev.MemberID != nil {
			ids[*ev.MemberID] = true
		}
	}
	t, typeErr := h.engine.ActionType(row.ActionType)
	if typeErr == nil {
		for _, p := range t.Params {
			if p.Type == engine.ParamMember {
				if n, err := strconv.ParseInt(display(row.ActionParams[p.Name]), 10, 64); err == nil {
					ids[n] = true
				}
			}
		}
	}
	names, left, err := h.memberNames(ctx, comm.ID, ids)
	if err != nil {
		return nil, err
	}
	// The votes are read once, for the tally and for the member's own vote.
	if b != nil {
		d.Tally = engine.TallyOf(b, votes[row.ID], left)
	}
	d.Bars = tallyBars(b, d.Tally)
	for _, v := range votes[row.ID] {
		if v.MemberID == me.ID {
			d.MyVote = decodeVote(v)
		}
	}
	d.CanVote = row.Status == models.StatusPending && b != nil && b.ClosedAt == nil && b.IsEligible(me.ID)
	if b != nil {
		for _, id := range b.Eligible {
			d.Eligible = append(d.Eligible, names[id])
		}
		sort.Strings(d.Eligible)
	}
	for _, ev := range events {
		d.Timeline = append(d.Timeline, timelineEntry{At: ev.CreatedAt, Kind: ev.Kind, Text: describeEvent(ev, names)})
	}
	if typeErr == nil {
		if d.Params, err = h.paramLines(ctx, comm, t, row.ActionParams, names); err != nil {
			return nil, err
		}
		if row.Status == models.StatusPending {
			if d.Changes, err = h.pendingChanges(ctx, comm, row); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

func (h *Handler) memberNames(ctx context.Context, communityID int64, set map[int64]bool) (map[int64]string, map[int64]bool, error) {
	ids := make([]int64, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	return h.store.MemberNames(ctx, communityID, ids)
}

func decodeVote(v models.Vote) *myVote {
	var val any
	_ = json.Unmarshal([]byte(v.Value), &val)
	return &myVote{Value: val, Text: voteText(val), At: v.UpdatedAt}
}

// voteText prints a vote value for people: "yes", "a, b" (in order), "a: 3, b: 5".
func voteText(val any) string {
	switch x := val.(type) {
	case string:
		return x
	case []any:
		return strings.Join(listOf(x), ", ")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %s", k, display(x[k]))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(val)
}

// ballotOptions lists what a ballot counts, in display order.
func ballotOptions(b *models.Ballot) []string {
	switch b.Kind {
	case engine.BallotYesNo:
		return []string{"yes", "no", "abstain"}
	case engine.BallotConsensus:
		return []string{"agree", "abstain", "disagree", "block"}
	}
	return b.Options
}

func tallyBars(b *models.Ballot, t *engine.Tally) []tallyBar {
	if b == nil || t == nil {
		return nil
	}
	var out []tallyBar
	for _, o := range ballotOptions(b) {
		bar := tallyBar{Label: o, Count: t.Counts[o]}
		if t.Eligible > 0 && b.Kind != engine.BallotScore {
			bar.Percent = bar.Count * 100 / t.Eligible
		}
		out = append(out, bar)
	}
	return out
}

// paramLines prints an action's parameters with their labels, naming the members, roles,
// policies and documents they refer to.
func (h *Handler) paramLines(ctx context.Context, comm *models.Community, t engine.ActionType, params map[string]any, names map[int64]string) ([]paramLine, error) {
	var out []paramLine
	for _, p := range t.Params {
		raw, ok := params[p.Name]
		if !ok {
			continue
		}
		line := paramLine{Label: p.Label, Value: display(raw)}
		id, _ := strconv.ParseInt(line.Value, 10, 64)
		switch p.Type {
		case engine.ParamText, engine.ParamCode:
			line.Long = true
		case engine.ParamStrings, engine.ParamIDs:
			line.Value = strings.Join(listOf(raw), ", ")
		case engine.ParamPermissions, engine.ParamCandidates:
			b, _ := json.MarshalIndent(raw, "", "  ")
			line.Value, line.Long = string(b), true
		case engine.ParamMember:
			line.Value = names[id]
		case engine.ParamRole:
			if r, err := h.store.RoleByID(ctx, comm.ID, id); err == nil {
				line.Value = r.Name
			}
		case engine.ParamPolicy:
			if pol, err := h.store.PolicyByID(ctx, comm.ID, id); err == nil {
				line.Value = pol.Name
			}
		case engine.ParamDocument:
			if doc, err := h.store.DocumentByIDAny(ctx, comm.ID, id); err == nil {
				line.Value = doc.Title
			}
		}
		if line.Value == "" && !line.Long {
			continue
		}
		out = append(out, line)
	}
	return out, nil
}

// pendingChanges shows what a pending document or policy change would change, against the
// current text.
func (h *Handler) pendingChanges(ctx context.Context, comm *models.Community, row *models.ProposalListRow) ([]fieldDiff, error) {
	p := row.ActionParams
	id, _ := strconv.ParseInt(display(p["document"]), 10, 64)
	switch row.ActionType {
	case engine.TypeChangeDocument:
		vs, err := h.store.DocumentVersions(ctx, comm.ID, id)
		if err != nil {
			return nil, nil // removed since: nothing to compare
		}
		return diffFields([]string{"title", "body"},
			map[string]string{"title": vs[0].Title, "body": vs[0].Body},
			map[string]string{"title": display(p["title"]), "body": display(p["body"])}), nil
	case engine.TypeChangePolicy:
		pid, _ := strconv.ParseInt(display(p["policy"]), 10, 64)
		pol, err := h.store.PolicyByID(ctx, comm.ID, pid)
		if err != nil {
			return nil, nil
		}
		cur := policyText(&pol.PolicyFields)
		next := map[string]string{}
		for k, v := range cur {
			next[k] = v
			if raw, ok := p[paramOfField[k]]; ok {
				next[k] = policyValue(raw)
			}
		}
		return diffFields(policyFieldNames, cur, next), nil
	}
	return nil, nil
}

// policyFieldNames are the fields of a policy compared between versions, in reading order.
var policyFieldNames = []string{"name", "description", "rule", "priority", "action types", "mode", "active",
	"filter", "initialize", "notify", "check", "pass", "fail", "stages"}

// paramOfField maps a compared policy field to the parameter of a policy change.
var paramOfField = map[string]string{"name": "name", "description": "description", "rule": "rule", "priority": "priority",
	"action types": "action_types", "mode": "mode", "filter": "filter", "initialize": "initialize", "notify": "notify",
	"check": "check", "pass": "pass", "fail": "fail", "stages": "stages"}

func policyValue(raw any) string {
	switch raw.(type) {
	case []any, []string, []int64:
		return strings.Join(listOf(raw), ", ")
	}
	return display(raw)
}

// policyText prints a policy's fields for diffing.
func policyText(f *models.PolicyFields) map[string]string {
	stages := make([]string, len(f.Stages))
	for i, s := range f.Stages {
		stages[i] = strconv.FormatInt(s, 10)
	}
	return map[string]string{
		"name": f.Name, "description": f.Description, "rule": f.Rule, "priority": strconv.Itoa(f.Priority),
		"action types": strings.Join(f.ActionTypes, ", "), "mode": f.Mode, "active": strconv.FormatBool(f.Active),
		"filter": f.FilterSrc, "initialize": f.InitSrc, "notify": f.NotifySrc, "check": f.CheckSrc,
		"pass": f.PassSrc, "fail": f.FailSrc, "stages": strings.Join(stages, ", "),
	}
}

// describeEvent turns an audit event into a sentence.
func describeEvent(ev models.AuditEvent, names map[int64]string) string {
	var p map[string]any
	_ = json.Unmarshal([]byte(ev.Payload), &p)
	who := "someone"
	if ev.MemberID != nil {
		if n, ok := names[*ev.MemberID]; ok {
			who = n
		}
	}
	s := func(k string) string { return display(p[k]) }
	switch ev.Kind {
	case "action.received":
		return fmt.Sprintf("%s proposed %s (via %s)", who, s("type"), s("origin"))
	case "action.permitted":
		return "Carried out at once: the initiator may execute it"
	case "action.refused":
		return "Refused: the initiator may not propose it"
	case "proposal.created":
		return fmt.Sprintf("Governed by “%s”, version %s", s("policy"), s("version"))
	case "stage":
		if r := s("result"); r != "" {
			return fmt.Sprintf("The %s stage ran: %s", s("stage"), r)
		}
		return fmt.Sprintf("The %s stage ran", s("stage"))
	case "stage.error":
		return "Policy error: " + s("error")
	case "ballot.opened":
		n := 0
		if l, ok := p["eligible"].([]any); ok {
			n = len(l)
		}
		return fmt.Sprintf("A %s vote opened for %d member(s)", strings.ReplaceAll(s("kind"), "_", "/"), n)
	case "vote.cast":
		return fmt.Sprintf("%s voted %s (via %s)", who, voteFromPayload(s("value")), s("via"))
	case "vote.changed":
		return fmt.Sprintf("%s changed their vote to %s (via %s)", who, voteFromPayload(s("value")), s("via"))
	case "proposal.decided":
		return "Decided: " + s("outcome")
	case "action.applied":
		return "Carried out"
	case "action.apply_failed": // recorded before not_carried_out existed
		return "Passed, but could not be carried out: " + s("error")
	case "action.not_carried_out":
		return "Approved, but could not be carried out: " + s("reason")
	case "action.retried":
		return who + " asked to try again to carry it out"
	case "effects.recorded":
		var kinds []string
		if l, ok := p["effects"].([]any); ok {
			for _, e := range l {
				if m, ok := e.(map[string]any); ok {
					kinds = append(kinds, fmt.Sprintf("%v on %v", m["kind"], m["platform"]))
				}
			}
		}
		return "Effects recorded: " + strings.Join(kinds, ", ")
	case "dry_run.decided":
		return fmt.Sprintf("A dry-run policy would have decided %s", s("outcome"))
	}
	return ev.Kind
}

func voteFromPayload(raw string) string {
	var v any
	if json.Unmarshal([]byte(raw), &v) != nil {
		return raw
	}
	return voteText(v)
}

func (h *Handler) proposal(c *gin.Context) {
	id, err := idParam(c, "id")
	if err != nil {
		h.pageFail(c, err)
		return
	}
	d, err := h.loadProposal(c.Request.Context(), currentCommunity(c), currentMember(c), id)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	d.Outcome.CSRF = csrfToken(c)
	h.render(c, http.StatusOK, "proposal", gin.H{"P": d})
}

// proposalTally is the live part of the proposal page, polled by htmx while it is pending.
func (h *Handler) proposalTally(c *gin.Context) {
	id, err := idParam(c, "id")
	if err != nil {
		h.pageFail(c, err)
		return
	}
	d, err := h.loadProposal(c.Request.Context(), currentCommunity(c), currentMember(c), id)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	d.Outcome.CSRF = csrfToken(c)
	h.renderFragment(c, http.StatusOK, "proposal_tally", gin.H{"P": d, "Fragment": true})
}

// vote records the member's vote from the page's form and answers with the refreshed vote
// section (htmx) or the page (plain form).
func (h *Handler) vote(c *gin.Context) {
	id, err := idParam(c, "id")
	if err != nil {
		h.pageFail(c, err)
		return
	}
	ctx := c.Request.Context()
	comm, me := currentCommunity(c), currentMember(c)
	p, err := h.store.ProposalByID(ctx, comm.ID, id)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	if err := c.Request.ParseForm(); err != nil {
		h.pageFail(c, bodyError(err))
		return
	}
	value, err := voteFromForm(p.Ballot, c.Request.PostForm)
	if err == nil {
		_, err = h.engine.CastVote(ctx, comm.ID, p.ID, me.ID, value, "web")
	}
	status, voteErr := http.StatusOK, ""
	if err != nil {
		status, _ = classify(err)
		if status >= 500 {
			h.pageFail(c, err)
			return
		}
		voteErr = err.Error()
		if f := models.FieldErrors(err); f["value"] != "" {
			voteErr = f["value"]
		}
	}
	if err == nil && !isHTMX(c) {
		redirect(c, fmt.Sprintf("/c/%s/proposals/%d", comm.Slug, p.ID))
		return
	}
	d, lerr := h.loadProposal(ctx, comm, me, id)
	if lerr != nil {
		h.pageFail(c, lerr)
		return
	}
	data := gin.H{"P": d, "VoteError": voteErr}
	if isHTMX(c) {
		if err == nil {
			c.Header("HX-Trigger", "vote-recorded")
		}
		if status != http.StatusOK {
			status = http.StatusUnprocessableEntity // htmx swaps 422 (app.js); the message is inline
		}
		h.renderFragment(c, status, "proposal_vote", data)
		return
	}
	h.render(c, status, "proposal", data)
}

// voteFromForm reads a vote for a ballot kind: one value (yes/no, consensus, choice), the
// checked options (approval), the options in rank order, or a score per option.
func voteFromForm(b *models.Ballot, form url.Values) (any, error) {
	if b == nil {
		return nil, models.Invalid("value", "no vote is open on this proposal")
	}
	switch b.Kind {
	case engine.BallotApproval, engine.BallotRanking:
		var list []any
		seen := map[string]bool{}
		for _, v := range form["value"] {
			if v != "" && !(b.Kind == engine.BallotRanking && seen[v]) {
				list = append(list, v)
				seen[v] = true
			}
		}
		return list, nil
	case engine.BallotScore:
		scores := map[string]any{}
		for _, o := range b.Options {
			if s := form.Get("score." + o); s != "" {
				n, err := strconv.Atoi(s)
				if err != nil {
					return nil, models.Invalid("value", fmt.Sprintf("the score of %q must be a whole number", o))
				}
				scores[o] = n
			}
		}
		return scores, nil
	}
	return form.Get("value"), nil
}
