package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"policykit/models"
)

// Draft is a policy being written and not yet saved: the fields it would be proposed with
// and, for a policy bundle, the later stages in order. Dry-runs evaluate drafts with the
// engine's own evaluation code and write nothing.
type Draft struct {
	Policy models.PolicyFields
	Stages []models.PolicyFields
}

// draft is a compiled Draft: one pseudo policy version and its programs per stage.
type draft struct {
	versions []*models.PolicyVersion
	programs []*compiled
}

func compileDraft(d Draft) (*draft, error) {
	out := &draft{}
	for i, f := range append([]models.PolicyFields{d.Policy}, d.Stages...) {
		progs, err := Compile(SourcesOf(&f))
		if err != nil {
			if i == 0 {
				return nil, err
			}
			return nil, fmt.Errorf("stage %d: %w", i+1, err)
		}
		out.versions = append(out.versions, &models.PolicyVersion{PolicyFields: f})
		out.programs = append(out.programs, progs)
	}
	return out, nil
}

// replay evaluates one stage of a draft on one (real or imagined) proposal, step by step at
// chosen times, like the engine would: the proposal's memory and ballot carry from step to
// step, the votes are the latest vote of each member.
type replay struct {
	a        *models.Action
	p        *models.Proposal
	v        *models.PolicyVersion
	progs    *compiled
	view     *communityView
	init     MemberInfo
	votes    map[int]any
	voters   []int // in order of first vote, so evaluations see a stable order
	notified bool
}

func newReplay(a *models.Action, p *models.Proposal, d *draft, stage int, view *communityView, init MemberInfo) *replay {
	return &replay{a: a, p: p, v: d.versions[stage], progs: d.programs[stage], view: view, init: init, votes: map[int]any{}}
}

func (r *replay) evaluation(at time.Time) *evaluation {
	cast := make([]castVote, 0, len(r.voters))
	for _, m := range r.voters {
		cast = append(cast, castVote{member: m, value: r.votes[m]})
	}
	return newEvaluation(at, r.a, r.p, r.v, r.view, r.init, cast)
}

// run runs one stage program at a time and keeps the memory and ballot it leaves.
func (r *replay) run(at time.Time, stage string) (any, []Intent, error) {
	ev := r.evaluation(at)
	out, err := ev.run(stage, r.progs.programs[stage])
	r.p.Data, r.p.Ballot = ev.data, ev.ballot
	return out, ev.intents, err
}

// vote records a member's vote if the draft's ballot would have taken it.
func (r *replay) vote(member int, value any) error {
	b := r.p.Ballot
	if b == nil || b.ClosedAt != nil {
		return fmt.Errorf("no vote is open")
	}
	if !b.IsEligible(int64(member)) {
		return fmt.Errorf("member %d is not among the voters", member)
	}
	canonical, err := ValidateVote(b, value)
	if err != nil {
		return err
	}
	var v any
	_ = json.Unmarshal([]byte(canonical), &v)
	if _, ok := r.votes[member]; !ok {
		r.voters = append(r.voters, member)
	}
	r.votes[member] = v
	return nil
}

// DryRunRow is one past proposal replayed under a draft.
type DryRunRow struct {
	ProposalID int64     `json:"proposal_id"`
	ActionID   int64     `json:"action_id"`
	ActionType string    `json:"action_type"`
	Summary    string    `json:"summary"`
	DecidedAt  time.Time `json:"decided_at"`
	Old        string    `json:"old"` // passed or failed, as it was decided
	// New is what the draft decides: passed, failed, pending (it would still be open now, or
	// a later stage of the draft would have to vote), or error.
	New     string `json:"new"`
	Changed bool   `json:"changed"`
	Note    string `json:"note,omitempty"`
	Error   string `json:"error,omitempty"`
}

// MaxDryRun is the most past proposals one dry-run replays.
const MaxDryRun = 200

// DryRun replays a community's last N decided proposals under a draft and returns one row per
// proposal the draft would govern (same kind, a covered type, its filter true), newest first;
// Changed marks those whose outcome would differ. Each replay opens the proposal at its
// creation time (initialize, check, notify — a jury is drawn with the proposal's own seed),
// then applies the recorded votes at their recorded times, checking just before each vote
// (as the check loop would have when time passed) and after it, then at the recorded decision
// time and finally now. A recorded vote by a member the draft's ballot would not have asked,
// or of a kind it does not take, is left out and counted in the note. Everything is loaded
// set-wise and nothing is written.
func (e *Engine) DryRun(ctx context.Context, communityID int64, d Draft, lastN int) ([]DryRunRow, error) {
	if lastN <= 0 || lastN > MaxDryRun {
		lastN = MaxDryRun
	}
	dr, err := compileDraft(d)
	if err != nil {
		return nil, err
	}
	c, err := e.store.CommunityByID(ctx, communityID)
	if err != nil {
		return nil, err
	}
	ps, err := e.store.DecidedProposals(ctx, communityID, lastN)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(ps))
	for i := range ps {
		ids[i] = ps[i].ID
	}
	as, err := e.store.ActionsByID(ctx, distinct(ps, func(p models.Proposal) int64 { return p.ActionID }))
	if err != nil {
		return nil, err
	}
	actions := make(map[int64]*models.Action, len(as))
	var initiators []int64
	for i := range as {
		actions[as[i].ID] = &as[i]
		if as[i].InitiatorID != nil {
			initiators = append(initiators, *as[i].InitiatorID)
		}
	}
	members, err := e.store.MemberInfos(ctx, initiators)
	if err != nil {
		return nil, err
	}
	events, err := e.store.ProposalAuditEvents(ctx, communityID, ids, "vote.cast", "vote.changed", "proposal.decided")
	if err != nil {
		return nil, err
	}
	byProposal := map[int64][]models.AuditEvent{}
	for _, ev := range events {
		byProposal[*ev.ProposalID] = append(byProposal[*ev.ProposalID], ev)
	}
	view := newCommunityView(ctx, e.store, c, e.members)
	now := e.Now()
	var rows []DryRunRow
	for i := range ps {
		p := &ps[i]
		a := actions[p.ActionID]
		if a == nil || a.Kind != d.Policy.Kind || !d.Policy.Covers(a.Type) {
			continue
		}
		init := MemberInfo{}
		if a.InitiatorID != nil {
			m := members[*a.InitiatorID]
			init = MemberInfo{ID: int(m.ID), Name: m.DisplayName, Roles: m.Roles}
		}
		row := DryRunRow{ProposalID: p.ID, ActionID: a.ID, ActionType: a.Type, Old: p.Status, Summary: a.Type}
		if typ, err := e.types.lookup(a.Type); err == nil {
			row.Summary = typ.Describe(a.Params)
		}
		if p.DecidedAt != nil {
			row.DecidedAt = *p.DecidedAt
		}
		governs, err := e.draftFilter(dr, a, p.CreatedAt, view, init)
		switch {
		case err != nil:
			row.New, row.Error = "error", err.Error()
		case !governs:
			continue
		default:
			row.New, row.Note, err = replayPast(dr, a, p, byProposal[p.ID], view, init, now)
			if err != nil {
				row.New, row.Error = "error", err.Error()
			}
		}
		row.Changed = row.New != row.Old
		rows = append(rows, row)
	}
	return rows, nil
}

func (e *Engine) draftFilter(dr *draft, a *models.Action, at time.Time, view *communityView, init MemberInfo) (bool, error) {
	ev := newEvaluation(at, a, &models.Proposal{CreatedAt: at, Data: map[string]any{}}, dr.versions[0], view, init, nil)
	out, err := ev.run(StageFilter, dr.programs[0].programs[StageFilter])
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

// pastVote is a vote recorded in the audit log.
type pastVote struct {
	at     time.Time
	member int
	value  any
}

// replayPast replays one decided proposal under the first stage of a draft, with the member
// and role lists its decision recorded (today's for any it did not).
func replayPast(dr *draft, a *models.Action, p *models.Proposal, events []models.AuditEvent, view *communityView, init MemberInfo, now time.Time) (string, string, error) {
	decidedAt := now
	if p.DecidedAt != nil {
		decidedAt = *p.DecidedAt
	}
	var timeline []pastVote
	var final []pastVote
	for _, ev := range events {
		switch ev.Kind {
		case "vote.cast", "vote.changed":
			var payload struct {
				Value string `json:"value"`
			}
			var v any
			if json.Unmarshal([]byte(ev.Payload), &payload) != nil || json.Unmarshal([]byte(payload.Value), &v) != nil || ev.MemberID == nil {
				continue
			}
			timeline = append(timeline, pastVote{at: ev.CreatedAt, member: int(*ev.MemberID), value: v})
		case "proposal.decided":
			var rec decisionRecord
			if json.Unmarshal([]byte(ev.Payload), &rec) == nil {
				decidedAt = rec.Now
				if rec.Reads != nil { // the community as the decision saw it
					view = recordedView(view.ctx, view.store, view.community, rec.Reads)
					init.Roles = rec.Reads.InitiatorRoles
				}
				for _, v := range rec.Votes {
					final = append(final, pastVote{at: rec.Now, member: oneIDSafe(v["member"]), value: v["value"]})
				}
			}
		}
	}
	if len(timeline) == 0 {
		timeline = final // votes recorded only with the decision
	}
	r := newReplay(a, &models.Proposal{ID: p.ID, CommunityID: p.CommunityID, ActionID: p.ActionID, CreatedAt: p.CreatedAt,
		Seed: p.Seed, Data: map[string]any{}}, dr, 0, view, init)
	left := 0
	finish := func(out string, err error) (string, string, error) {
		if err != nil {
			return "", "", err
		}
		note := ""
		if left > 0 {
			note = fmt.Sprintf("%d recorded vote(s) left out: the draft would not have asked those members, or not that question", left)
		}
		switch {
		case out == Passed && len(dr.programs) > 1:
			return Pending, joinNote(note, "passes stage 1; stage 2 of the draft would then open a vote of its own"), nil
		case out == Pending:
			return Pending, joinNote(note, "it would still be open now"), nil
		}
		return out, note, nil
	}
	outcome, err := r.open(p.CreatedAt)
	if err != nil || outcome != Pending {
		return finish(outcome, err)
	}
	for _, v := range timeline {
		// The check loop ran while time passed before this vote.
		if outcome, err = r.check(v.at); err != nil || outcome != Pending {
			return finish(outcome, err)
		}
		if r.vote(v.member, v.value) != nil {
			left++
			continue
		}
		if outcome, err = r.check(v.at); err != nil || outcome != Pending {
			return finish(outcome, err)
		}
	}
	if outcome, err = r.check(decidedAt); err != nil || outcome != Pending {
		return finish(outcome, err)
	}
	return finish(r.check(now))
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// open runs initialize and the first check at the proposal's creation, and notify once when
// it is pending, as openProposal does.
func (r *replay) open(at time.Time) (string, error) {
	if _, _, err := r.run(at, StageInitialize); err != nil {
		return "", err
	}
	return r.check(at)
}

// check runs the check stage at a time (notify once, the first time it is pending).
func (r *replay) check(at time.Time) (string, error) {
	out, _, err := r.run(at, StageCheck)
	if err != nil {
		return "", err
	}
	if out == Pending && !r.notified {
		r.notified = true
		if _, _, err := r.run(at, StageNotify); err != nil {
			return "", err
		}
	}
	return out.(string), nil
}

// TryInput is an imagined action and votes for TryIt.
type TryInput struct {
	ActionType string
	Params     map[string]any
	Initiator  int64              // the member who acts (0: nobody)
	Votes      []HypotheticalVote // applied in time order
	// Until is how long after the action to look once more when the last vote left it open
	// (to see a deadline); 0 stops after the last vote.
	Until time.Duration
	Seed  int64 // seeds the draws of sample (0 means 1), as a proposal's seed does
}

// HypotheticalVote is a vote TryIt applies: who votes what, when (after the action), on
// which stage of a bundle (0 for the first).
type HypotheticalVote struct {
	Member int64         `json:"member"`
	Value  any           `json:"value"`
	At     time.Duration `json:"at"`
	Stage  int           `json:"stage"`
}

// StepResult is one step of TryIt.
type StepResult struct {
	At      time.Duration  `json:"at"`    // after the action
	Stage   int            `json:"stage"` // bundle stage, 0 for the first
	Step    string         `json:"step"`  // filter, initialize, check, notify, vote, pass, fail
	Outcome string         `json:"outcome,omitempty"`
	Effects []Intent       `json:"effects,omitempty"`
	Ballot  *models.Ballot `json:"ballot,omitempty"` // the ballot a step opened
	Data    map[string]any `json:"data,omitempty"`   // the proposal's memory after the step
	Note    string         `json:"note,omitempty"`
	Error   string         `json:"error,omitempty"`
	// A vote step's voter and ballot, for pages to name them.
	Voter int64 `json:"voter,omitempty"`
	Value any   `json:"value,omitempty"`
	// ErrorKind classifies Error (ErrorKindBudget, ErrorKindRuntime…).
	ErrorKind string `json:"error_kind,omitempty"`
}

// TryIt runs a draft on an imagined action, step by step, at the given times, with the
// community's real members and roles, and writes nothing: the filter, then for each stage
// initialize, check, notify, each vote (with the check just before it, when time alone
// decides, and just after it), a last check at Until, and the pass or fail stage.
func (e *Engine) TryIt(ctx context.Context, communityID int64, d Draft, in TryInput) ([]StepResult, error) {
	dr, err := compileDraft(d)
	if err != nil {
		return nil, err
	}
	typ, err := e.types.lookup(in.ActionType)
	if err != nil {
		return nil, err
	}
	if typ.Kind() != d.Policy.Kind || !d.Policy.Covers(typ.Name) {
		return nil, models.Invalid("action_type", fmt.Sprintf("the draft does not govern %s", typ.Name))
	}
	params, err := typ.normalize(in.Params)
	if err != nil {
		return nil, err
	}
	c, err := e.store.CommunityByID(ctx, communityID)
	if err != nil {
		return nil, err
	}
	init := MemberInfo{}
	a := &models.Action{CommunityID: communityID, Type: typ.Name, Kind: typ.Kind(), Platform: typ.Platform, Params: params,
		Origin: models.OriginPlatform, Status: models.StatusPending}
	if typ.Platform == ConstitutionPlatform {
		a.Origin = models.OriginWeb
	}
	if in.Initiator != 0 {
		m, err := e.store.MemberAccess(ctx, communityID, in.Initiator)
		if err != nil {
			return nil, fmt.Errorf("initiator: %w", err)
		}
		init, a.InitiatorID = memberInfo(m), &m.ID
	}
	votes := append([]HypotheticalVote(nil), in.Votes...)
	sort.SliceStable(votes, func(i, j int) bool { return votes[i].At < votes[j].At })
	seed := in.Seed
	if seed == 0 {
		seed = 1
	}
	tr := &trial{start: e.Now(), votes: votes, until: in.Until}
	view := newCommunityView(ctx, e.store, c, e.members)
	governs, err := e.draftFilter(dr, a, tr.start, view, init)
	fs := StepResult{Step: StageFilter, Outcome: "governs"}
	if err != nil {
		fs.Outcome, fs.Error, fs.ErrorKind = "", err.Error(), ErrorKind(err)
	} else if !governs {
		fs.Outcome, fs.Note = "does not govern", "the filter is false: another policy (the base policy at the latest) would govern this action"
	}
	tr.steps = append(tr.steps, fs)
	if err != nil || !governs {
		return tr.steps, nil
	}
	at := tr.start
	for stage := range dr.versions {
		r := newReplay(a, &models.Proposal{CommunityID: communityID, CreatedAt: at, Seed: seed + int64(stage), Stage: stage,
			Data: map[string]any{}}, dr, stage, view, init)
		outcome, decided := tr.stage(r, stage, at)
		if decided == nil {
			break // still open, or a policy error: the steps show it
		}
		at = *decided
		next := StagePass
		if outcome == Failed {
			next = StageFail
		}
		_, intents, err := r.run(at, next)
		tr.record(r, at, stage, next, nil, intents, err)
		if outcome == Failed || err != nil {
			break
		}
	}
	return tr.steps, nil
}

// trial is the state of one TryIt run.
type trial struct {
	start time.Time
	votes []HypotheticalVote
	until time.Duration
	steps []StepResult
}

func (tr *trial) record(r *replay, at time.Time, stage int, step string, out any, intents []Intent, err error) *StepResult {
	s := StepResult{At: at.Sub(tr.start), Stage: stage, Step: step, Effects: intents}
	s.Outcome, _ = out.(string)
	if err != nil {
		s.Error, s.ErrorKind = err.Error(), ErrorKind(err)
	}
	if len(r.p.Data) > 0 {
		s.Data = r.p.Data
	}
	tr.steps = append(tr.steps, s)
	return &tr.steps[len(tr.steps)-1]
}

// check runs the check stage; quiet leaves out a check that changed nothing. The first time
// it is pending, notify runs, as in the engine. ok is false after a policy error.
func (tr *trial) check(r *replay, stage int, at time.Time, quiet bool) (outcome string, ok bool) {
	out, intents, err := r.run(at, StageCheck)
	outcome, _ = out.(string)
	if err != nil || !quiet || outcome != Pending || len(intents) > 0 {
		tr.record(r, at, stage, StageCheck, out, intents, err)
	}
	if err != nil {
		return "", false
	}
	if outcome == Pending && !r.notified {
		r.notified = true
		_, intents, err := r.run(at, StageNotify)
		s := tr.record(r, at, stage, StageNotify, nil, intents, err)
		s.Ballot = r.p.Ballot
		if r.a.Origin == models.OriginPlatform {
			s.Note = "the action is undone on the platform while it is decided"
		}
		if err != nil {
			return "", false
		}
	}
	return outcome, true
}

// stage opens one stage at a time and applies its votes in time order; it returns the
// outcome and when it was decided, or a nil time when it is still open or broke.
func (tr *trial) stage(r *replay, stage int, at time.Time) (string, *time.Time) {
	_, intents, err := r.run(at, StageInitialize)
	tr.record(r, at, stage, StageInitialize, nil, intents, err)
	if err != nil {
		return "", nil
	}
	outcome, ok := tr.check(r, stage, at, false)
	for _, v := range tr.votes {
		if !ok || outcome != Pending {
			break
		}
		if v.Stage != stage {
			continue
		}
		when := tr.start.Add(v.At)
		if when.Before(at) {
			when = at // a vote cannot come before its stage opened
		}
		// Time alone may decide before this vote lands (a deadline).
		at = when
		if outcome, ok = tr.check(r, stage, when, true); !ok || outcome != Pending {
			break
		}
		s := StepResult{At: when.Sub(tr.start), Stage: stage, Step: "vote", Note: fmt.Sprintf("member %d votes %v", v.Member, v.Value),
			Voter: v.Member, Value: v.Value}
		if err := r.vote(int(v.Member), v.Value); err != nil {
			s.Error, s.ErrorKind = err.Error(), ErrorKind(err)
			tr.steps = append(tr.steps, s)
			continue
		}
		tr.steps = append(tr.steps, s)
		outcome, ok = tr.check(r, stage, when, false)
	}
	if ok && outcome == Pending && tr.until > 0 && tr.start.Add(tr.until).After(at) {
		at = tr.start.Add(tr.until)
		outcome, ok = tr.check(r, stage, at, false)
	}
	if !ok || outcome == Pending {
		return outcome, nil
	}
	return outcome, &at
}

// Agreement is how often a policy in dry_run mode decided like the enforcing policies, over
// the proposals it evaluated beside them.
type Agreement struct {
	Agreed    int `json:"agreed"`    // both decided the same way
	Disagreed int `json:"disagreed"` // both decided, differently
	Open      int `json:"open"`      // one of the two has not decided yet
	Errors    int `json:"errors"`    // the dry-run policy raised an error
}

// ShadowAgreement compares a dry-run policy's recorded decisions with the real outcomes of
// the same proposals, loaded set-wise.
func (e *Engine) ShadowAgreement(ctx context.Context, communityID, policyID int64) (*Agreement, error) {
	ds, err := e.store.ShadowDecisions(ctx, communityID, 0, policyID)
	if err != nil {
		return nil, err
	}
	ps, err := e.store.ProposalsByID(ctx, distinct(ds, func(d models.ShadowDecision) int64 { return d.ProposalID }))
	if err != nil {
		return nil, err
	}
	status := make(map[int64]string, len(ps))
	for _, p := range ps {
		status[p.ID] = p.Status
	}
	a := &Agreement{}
	for _, d := range ds {
		real := status[d.ProposalID]
		switch {
		case d.Error != "":
			a.Errors++
		case d.Outcome == Pending || real == models.StatusPending || real == "":
			a.Open++
		case d.Outcome == real:
			a.Agreed++
		default:
			a.Disagreed++
		}
	}
	return a, nil
}
