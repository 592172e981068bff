package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"policykit/models"
)

// Submission is an action to govern: one that happened on a platform, or one proposed on
// the website or through the API.
type Submission struct {
	CommunityID  int64
	Type         string
	InitiatorID  int64
	Params       map[string]any
	Origin       string // models.OriginPlatform, OriginWeb or OriginAPI
	ExternalRefs map[string]string
	// Receipt, when set, is the inbound delivery the action arrived in. Governing the action
	// consumes it in the same transaction, so a delivery processed twice (again after a
	// crash) governs its action once; the second time Submit returns ErrAlreadyGoverned.
	Receipt *Receipt
}

// Receipt names an accepted inbound delivery (models.AcceptDelivery).
type Receipt struct {
	Platform, Key string
}

// ErrAlreadyGoverned: the delivery that carried this action has been processed already.
var ErrAlreadyGoverned = errors.New("the delivery of this action was already processed")

// Result is what governing an action produced.
type Result struct {
	Action   *models.Action
	Proposal *models.Proposal // nil when a permission (or no policy) decided
}

// Submit governs an action (DESIGN §5). Bad input — an unknown type, bad parameters,
// another community's ids, broken policy code in a policy change — is an error and writes
// nothing. So is a website proposal by a member without the propose permission; a platform
// action by such a member is recorded and reverted.
func (e *Engine) Submit(ctx context.Context, s Submission) (*Result, error) {
	typ, err := e.types.lookup(s.Type)
	if err != nil {
		return nil, err
	}
	params, err := typ.normalize(s.Params)
	if err != nil {
		return nil, err
	}
	switch s.Origin {
	case models.OriginWeb, models.OriginAPI:
	case models.OriginPlatform:
		if typ.Platform == ConstitutionPlatform {
			return nil, models.Invalid("origin", "constitution actions are proposed on the website")
		}
	default:
		return nil, models.Invalid("origin", fmt.Sprintf("unknown origin %q", s.Origin))
	}
	var res *Result
	err = e.governTx(ctx, s.CommunityID, func(t *txn) error {
		var err error
		res, err = t.submit(typ, params, s)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// submit is the body of Submit inside its transaction.
func (t *txn) submit(typ ActionType, params map[string]any, s Submission) (*Result, error) {
	ctx, tx, e := t.ctx, t.tx, t.e
	if s.Receipt != nil {
		first, err := tx.ConsumeDelivery(ctx, s.Receipt.Platform, s.Receipt.Key)
		if err != nil {
			return nil, err
		}
		if !first {
			return nil, ErrAlreadyGoverned
		}
	}
	initiator, err := e.access.get(ctx, tx, t.community, s.InitiatorID)
	if err != nil {
		return nil, err
	}
	if err := e.preflight(ctx, tx, t.community, typ, params, s.Origin, true); err != nil {
		return nil, err
	}
	a := &models.Action{
		CommunityID: s.CommunityID, Type: typ.Name, Kind: typ.Kind(), Platform: typ.Platform,
		InitiatorID: &initiator.ID, Params: params, Origin: s.Origin, ExternalRefs: s.ExternalRefs,
		Status: models.StatusPending,
	}
	if a.ExternalRefs == nil {
		a.ExternalRefs = map[string]string{}
	}
	propose, execute := models.Allowed(initiator.Permissions, typ.Name)
	if !propose && s.Origin != models.OriginPlatform {
		return nil, fmt.Errorf("your roles do not allow you to propose %q: %w", typ.Label, models.ErrForbidden)
	}
	if err := t.newAction(a); err != nil {
		return nil, err
	}
	t.event("action.received", nil, a, a.InitiatorID, map[string]any{
		"type": a.Type, "params": a.Params, "origin": a.Origin, "refs": a.ExternalRefs})
	res := &Result{Action: a}
	switch {
	case execute:
		a.Note = "carried out at once: the initiator's role has the execute permission"
		t.event("action.permitted", nil, a, nil, map[string]any{"permission": "execute"})
		if err := t.carryOut(a, nil); err != nil {
			return nil, err
		}
	case !propose:
		a.Note = "reverted: the initiator's roles do not allow proposing this action"
		a.Status = models.StatusFailed
		t.event("action.refused", nil, a, nil, map[string]any{"permission": "propose"})
		t.revert(a, nil)
	default:
		res.Proposal, err = t.govern(a, memberInfo(initiator))
		if err != nil {
			return nil, err
		}
		if res.Proposal != nil {
			return res, nil // saved with its proposal
		}
	}
	return res, t.saveAction(a)
}

// txn gathers the work of one governance transaction: audit events and effects are written
// together at the end (flush), in the order they were recorded.
type txn struct {
	e         *Engine
	ctx       context.Context
	tx        *models.Store
	now       time.Time
	community *models.Community
	view      *communityView
	events    []models.NewAuditEvent
	effects   []models.Effect
	// New actions and proposals get reserved ids at once and are written once, complete, by
	// flush: a whole group commit's new rows go in one multi-row INSERT per table.
	ids        *idBlocks
	unsaved    map[any]bool
	newActions []*models.Action
	newProps   []*models.Proposal
	newShadows []*models.ShadowDecision
	// governanceChanged is set when this work changed policies, roles or permissions: the
	// community row (its epoch) must be read again by whoever runs next in the transaction.
	governanceChanged bool
	// evalTime is how long this request's policies have evaluated (maxRequestEval, CPU
	// time); evalSteps the steps they counted (what marks a community slow: deterministic,
	// where CPU time also counts a garbage collection that happened to run).
	evalTime  time.Duration
	evalSteps int64
}

// idBlocks are the id reservations of one transaction (shared by a group commit's requests).
type idBlocks struct {
	actions, proposals *models.IDBlock
}

func newIDBlocks() *idBlocks {
	return &idBlocks{actions: models.NewIDBlock("actions"), proposals: models.NewIDBlock("proposals")}
}

// idReserve is how many ids a transaction reserves at a time.
const idReserve = 256

// newAction gives a new action its id; flush writes the row as it is then.
func (t *txn) newAction(a *models.Action) error {
	id, err := t.ids.actions.Next(t.ctx, t.tx, idReserve)
	if err != nil {
		return err
	}
	a.ID, a.CreatedAt, a.UpdatedAt = id, t.now, t.now
	t.unsaved[a] = true
	t.newActions = append(t.newActions, a)
	return nil
}

// newProposal gives a new proposal its id; flush writes the row as it is then.
func (t *txn) newProposal(p *models.Proposal) error {
	id, err := t.ids.proposals.Next(t.ctx, t.tx, idReserve)
	if err != nil {
		return err
	}
	p.ID, p.CreatedAt, p.UpdatedAt = id, t.now, t.now
	t.unsaved[p] = true
	t.newProps = append(t.newProps, p)
	return nil
}

// saveAction stores an action's changes; a new one is written whole by flush.
func (t *txn) saveAction(a *models.Action) error {
	if t.unsaved[a] {
		return nil
	}
	return t.tx.UpdateAction(t.ctx, a)
}

// merge adds another request's writes to this transaction's (a group commit flushes once
// per community).
func (t *txn) merge(o *txn) {
	t.events = append(t.events, o.events...)
	t.effects = append(t.effects, o.effects...)
	t.newActions = append(t.newActions, o.newActions...)
	t.newProps = append(t.newProps, o.newProps...)
	t.newShadows = append(t.newShadows, o.newShadows...)
}

func (e *Engine) begin(ctx context.Context, tx *models.Store, communityID int64) (*txn, error) {
	c, err := tx.LockCommunity(ctx, communityID)
	if err != nil {
		return nil, err
	}
	return e.beginLocked(ctx, tx, c), nil
}

// beginLocked starts the work of a transaction that already holds the community's lock.
func (e *Engine) beginLocked(ctx context.Context, tx *models.Store, c *models.Community) *txn {
	return &txn{e: e, ctx: ctx, tx: tx, now: e.Now(), community: c, view: newCommunityView(ctx, tx, c, e.members),
		ids: newIDBlocks(), unsaved: map[any]bool{}}
}

func (t *txn) event(kind string, p *models.Proposal, a *models.Action, member *int64, payload any) {
	ev := models.NewAuditEvent{Kind: kind, MemberID: member, Payload: payload}
	if p != nil {
		ev.ProposalID = &p.ID
	}
	if a != nil {
		ev.ActionID = &a.ID
	}
	t.events = append(t.events, ev)
}

// flush writes the new actions and proposals (in id order, so a row is written after the
// rows it refers to), dry-run decisions, effects and audit events; it reports whether
// effects were added.
func (t *txn) flush() (bool, error) {
	slices.SortFunc(t.newActions, func(a, b *models.Action) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(t.newProps, func(a, b *models.Proposal) int { return cmp.Compare(a.ID, b.ID) })
	if err := t.tx.InsertActions(t.ctx, t.newActions); err != nil {
		return false, err
	}
	if err := t.tx.InsertProposals(t.ctx, t.newProps); err != nil {
		return false, err
	}
	for _, d := range t.newShadows {
		if err := t.tx.SaveShadowDecision(t.ctx, d); err != nil {
			return false, err
		}
	}
	if err := t.tx.InsertEffects(t.ctx, t.effects); err != nil {
		return false, err
	}
	t.effectEvents()
	if err := t.tx.AppendAudit(t.ctx, t.community.ID, t.now, t.events...); err != nil {
		return false, err
	}
	return len(t.effects) > 0, nil
}

// effect records an effect for delivery. Its idempotency key is derived from what it does,
// so recording the same intent twice (a re-evaluation) keeps one effect.
func (t *txn) effect(kind string, a *models.Action, p *models.Proposal, payload map[string]any) {
	if a.Platform == ConstitutionPlatform && kind != IntentNotify && kind != IntentPost {
		return // the website's own actions are applied in the transaction, not delivered
	}
	raw, _ := json.Marshal(payload)
	sum := sha256.Sum256(raw)
	pid := int64(0)
	var pp *int64
	if p != nil {
		pid, pp = p.ID, &p.ID
	}
	t.effects = append(t.effects, models.Effect{
		CommunityID: t.community.ID, ProposalID: pp, ActionID: &a.ID, Seq: len(t.effects),
		Kind: kind, Platform: a.Platform, Payload: payload,
		IdemKey: fmt.Sprintf("a%d:p%d:%s:%s", a.ID, pid, kind, hex.EncodeToString(sum[:8])),
		Status:  models.EffectPending, NextAttemptAt: t.now, Result: map[string]any{}, CreatedAt: t.now,
	})
}

// effectEvents records the effects of this transaction in the audit chain: one event per
// action and proposal listing its effects in order (not one row each: a jury rename records
// three).
func (t *txn) effectEvents() {
	type key struct{ action, proposal int64 }
	var order []key
	groups := map[key][]map[string]any{}
	refs := map[key]models.Effect{}
	for _, ef := range t.effects {
		k := key{action: *ef.ActionID}
		if ef.ProposalID != nil {
			k.proposal = *ef.ProposalID
		}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
			refs[k] = ef
		}
		groups[k] = append(groups[k], map[string]any{"kind": ef.Kind, "platform": ef.Platform, "payload": ef.Payload, "key": ef.IdemKey})
	}
	for _, k := range order {
		ef := refs[k]
		t.events = append(t.events, models.NewAuditEvent{Kind: "effects.recorded", ProposalID: ef.ProposalID, ActionID: ef.ActionID,
			Payload: map[string]any{"effects": groups[k]}})
	}
}

// govern picks the governing policy (DESIGN §5.3), opens its proposal and evaluates it.
func (t *txn) govern(a *models.Action, initiator MemberInfo) (*models.Proposal, error) {
	candidates, err := t.policies(a)
	if err != nil {
		return nil, err
	}
	var chosen *policyChoice
	var shadows []*policyChoice
	var base *policyChoice
	for _, pc := range candidates {
		if pc.version.Mode == models.ModeDryRun {
			shadows = append(shadows, pc)
			continue
		}
		if base == nil && len(pc.version.ActionTypes) == 0 {
			base = pc
		}
		if chosen != nil {
			continue
		}
		ok, err := t.filter(pc, a, initiator)
		if ErrorKind(err) == ErrorKindStorage {
			return nil, err
		}
		if err != nil || ok {
			// A filter error does not hand the action to the next policy: this policy governs
			// and its proposal shows the error until the policy is fixed.
			pc.filterErr = err
			chosen = pc
		}
	}
	if chosen == nil {
		chosen = base
	}
	if chosen == nil {
		a.Status = models.StatusFailed
		a.Note = "no active policy governs this kind of action"
		t.event("action.ungoverned", nil, a, nil, map[string]any{"kind": a.Kind})
		t.revert(a, nil)
		return nil, nil
	}
	p, err := t.openProposal(a, chosen, initiator, 0, nil)
	if err != nil {
		return nil, err
	}
	for _, sh := range shadows {
		ok, err := t.filter(sh, a, initiator)
		if ErrorKind(err) == ErrorKindStorage {
			return nil, err
		}
		if err == nil && ok {
			if err := t.shadow(sh, a, p, initiator, nil); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// policyChoice is a candidate policy with its pinned version and compiled programs.
type policyChoice struct {
	version   *models.PolicyVersion
	programs  *compiled
	filterErr error
}

// policies lists the active policies of the action's kind that cover its type, in priority
// order, with their current versions compiled.
func (t *txn) policies(a *models.Action) ([]*policyChoice, error) {
	vs, err := t.e.policyVersions.get(t.ctx, t.tx, t.community, a.Kind)
	if err != nil {
		return nil, err
	}
	out := make([]*policyChoice, 0, len(vs))
	for i := range vs {
		v := &vs[i]
		if !v.Covers(a.Type) {
			continue
		}
		progs, err := t.e.programs.get(v)
		if err != nil {
			progs = nil // stored code no longer compiles: it governs with the error shown
		}
		out = append(out, &policyChoice{version: v, programs: progs, filterErr: err})
	}
	return out, nil
}

func (t *txn) filter(pc *policyChoice, a *models.Action, initiator MemberInfo) (bool, error) {
	if pc.programs == nil {
		return true, pc.filterErr
	}
	ev := t.evaluation(a, &models.Proposal{CreatedAt: t.now, Data: map[string]any{}}, pc.version, initiator, nil)
	out, err := ev.run(StageFilter, pc.programs.programs[StageFilter])
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

func (t *txn) evaluation(a *models.Action, p *models.Proposal, v *models.PolicyVersion, initiator MemberInfo, vs []castVote) *evaluation {
	ev := newEvaluation(t.now, a, p, v, t.view, initiator, vs)
	ev.inTx, ev.inTxSteps = &t.evalTime, &t.evalSteps
	return ev
}

// openProposal creates the proposal of a policy for an action and evaluates it for the first
// time: initialize once, check, then pass, fail, or go pending (revert, notify once).
func (t *txn) openProposal(a *models.Action, pc *policyChoice, initiator MemberInfo, stage int, parent *models.Proposal) (*models.Proposal, error) {
	p := &models.Proposal{
		CommunityID: t.community.ID, ActionID: a.ID, PolicyID: &pc.version.PolicyID, PolicyVersionID: pc.version.ID,
		Stage: stage, Status: models.StatusPending, Data: map[string]any{}, Seed: rand.Int64(),
		Rule: pc.version.Rule, CreatedAt: t.now, UpdatedAt: t.now,
	}
	if parent != nil {
		p.ParentID = &parent.ID
	}
	if err := t.newProposal(p); err != nil {
		return nil, err
	}
	t.event("proposal.created", p, a, nil, map[string]any{"policy_id": pc.version.PolicyID, "policy_version_id": pc.version.ID,
		"policy": pc.version.Name, "version": pc.version.Version, "rule": p.Rule, "seed": p.Seed, "stage": stage})
	if pc.programs == nil || pc.filterErr != nil {
		err := pc.filterErr
		if err == nil {
			err = errors.New("the policy's code does not compile")
		}
		if err := t.stageError(a, p, pc.version, &policyError{Stage: StageFilter, Err: err}); err != nil {
			return nil, err
		}
		return p, t.save(a, p)
	}
	ev := t.evaluation(a, p, pc.version, initiator, nil)
	if _, err := ev.run(StageInitialize, pc.programs.programs[StageInitialize]); err != nil {
		if err := t.stageError(a, p, pc.version, err); err != nil {
			return nil, err
		}
		t.absorb(ev, a, p)
		return p, t.save(a, p)
	}
	t.event("stage", p, a, nil, map[string]any{"stage": StageInitialize, "data": ev.data})
	if err := t.check(ev, pc, a, p); err != nil {
		return nil, err
	}
	return p, nil
}

// check runs the check stage of an evaluation and acts on its outcome.
func (t *txn) check(ev *evaluation, pc *policyChoice, a *models.Action, p *models.Proposal) error {
	before := maps.Clone(ev.data)
	out, err := ev.run(StageCheck, pc.programs.programs[StageCheck])
	if err != nil {
		if err := t.stageError(a, p, pc.version, err); err != nil {
			return err
		}
		t.absorb(ev, a, p)
		return t.save(a, p)
	}
	if p.Error != "" {
		p.Error, p.ErrorKind, p.ErrorAt = "", "", nil
		if err := t.tx.RecordPolicyError(t.ctx, pc.version.PolicyID, "", t.now); err != nil {
			return fmt.Errorf("clear the error of policy %d: %w", pc.version.PolicyID, err)
		}
	}
	outcome := out.(string)
	switch outcome {
	case Pending:
		if !p.Notified {
			t.event("stage", p, a, nil, map[string]any{"stage": StageCheck, "result": Pending})
			t.revert(a, p)
			p.Notified = true
			if _, err := ev.run(StageNotify, pc.programs.programs[StageNotify]); err != nil {
				if err := t.stageError(a, p, pc.version, err); err != nil {
					return err
				}
			} else {
				t.event("stage", p, a, nil, map[string]any{"stage": StageNotify})
			}
		}
		t.absorb(ev, a, p)
		return t.save(a, p)
	case Passed, Failed:
		return t.decide(ev, pc, a, p, outcome, before)
	}
	return fmt.Errorf("check returned %q", outcome)
}

// decide carries out a decided proposal: the pass or fail stage, the next stage of a policy
// bundle, execution or revert of the action, and closing the ballot.
//
// The audit event records the inputs of the check (data before it ran, the votes, the
// ballot, the time, and the member and role lists it read) so anyone can re-run it and get
// the same outcome (VerifyAudit).
func (t *txn) decide(ev *evaluation, pc *policyChoice, a *models.Action, p *models.Proposal, outcome string, dataBefore map[string]any) error {
	stage := StagePass
	if outcome == Failed {
		stage = StageFail
	}
	if _, err := ev.run(stage, pc.programs.programs[stage]); err != nil {
		// stays pending: nothing is executed on a broken pass stage
		if err := t.stageError(a, p, pc.version, err); err != nil {
			return err
		}
		ev.intents = nil
		return t.save(a, p)
	}
	record := map[string]any{"outcome": outcome, "now": t.now, "data": dataBefore, "votes": voteRecord(ev.votes), "ballot": ev.ballot}
	if !ev.reads.empty() {
		record["reads"] = ev.reads
	}
	t.event("proposal.decided", p, a, nil, record)
	p.Status = outcome
	p.DecidedAt = &t.now
	closing := -1 // the close_ballot effect, told if the action cannot be carried out
	if ev.ballot != nil && ev.ballot.ClosedAt == nil {
		ev.ballot.ClosedAt = &t.now
		t.effect("close_ballot", a, p, map[string]any{"outcome": outcome})
		if n := len(t.effects); n > 0 && t.effects[n-1].Kind == "close_ballot" {
			closing = n - 1
		}
	}
	var execute *Intent
	rest := ev.intents[:0]
	for i := range ev.intents {
		if ev.intents[i].Kind == IntentExecute && execute == nil {
			execute = &ev.intents[i]
			continue
		}
		rest = append(rest, ev.intents[i])
	}
	ev.intents = rest
	t.absorb(ev, a, p)
	if outcome == Failed {
		a.Status = models.StatusFailed
		t.revert(a, p)
		return t.save(a, p)
	}
	if next, ok := t.nextStage(pc, p); ok {
		if err := t.save(a, p); err != nil {
			return err
		}
		_, err := t.openProposal(a, next, ev.initiator, p.Stage+1, p)
		return err
	}
	if execute == nil {
		a.Status = models.StatusPassed
		a.Note = "passed; the policy's pass stage did not execute it"
	} else {
		if err := t.carryOut(a, execute.Payload); err != nil {
			return err
		}
		if a.Status == models.StatusNotCarriedOut && closing >= 0 {
			t.effects[closing].Payload = map[string]any{"outcome": models.StatusNotCarriedOut, "reason": a.Note}
		}
	}
	return t.save(a, p)
}

// nextStage returns the next policy of a policy bundle, if this proposal is not the last.
func (t *txn) nextStage(pc *policyChoice, p *models.Proposal) (*policyChoice, bool) {
	if p.Stage >= len(pc.version.Stages) {
		return nil, false
	}
	id := pc.version.Stages[p.Stage]
	pol, err := t.tx.PolicyByID(t.ctx, t.community.ID, id)
	if err != nil || pol.VersionID == nil {
		return &policyChoice{version: pc.version, filterErr: fmt.Errorf("stage %d: policy %d is missing", p.Stage+2, id)}, true
	}
	vs, err := t.tx.PolicyVersionsByID(t.ctx, []int64{*pol.VersionID})
	if err != nil || len(vs) != 1 {
		return &policyChoice{version: pc.version, filterErr: fmt.Errorf("stage %d: policy %d has no version", p.Stage+2, id)}, true
	}
	progs, err := t.e.programs.get(&vs[0])
	return &policyChoice{version: &vs[0], programs: progs, filterErr: err}, true
}

// carryOut executes an approved action: constitution actions are applied in this
// transaction; platform actions become an execute effect, unless they happened on the
// platform and were never reverted, in which case they simply stand. It is checked again
// first (the world may have changed since it was proposed): if that fails, or applying it
// does, the action is approved but not carried out. A database error is returned: nothing
// is decided then.
func (t *txn) carryOut(a *models.Action, payload map[string]any) error {
	if a.Type == TypeElection {
		return t.carryOutElection(a, payload)
	}
	if a.Platform != ConstitutionPlatform && a.Origin == models.OriginPlatform && !a.Reverted {
		a.Status = models.StatusExecuted // it already happened; it stands
		return nil
	}
	p, err := t.e.checkAgain(t.ctx, t.tx, t.community, a)
	if err != nil {
		return t.notCarriedOut(a, err)
	}
	if a.Platform == ConstitutionPlatform {
		t.governanceChanged = true
		if err := t.e.applyConstitution(t.ctx, t.tx, a, p, t.now); err != nil {
			return t.notCarriedOut(a, err)
		}
		a.Status = models.StatusExecuted
		t.event("action.applied", nil, a, nil, map[string]any{"type": a.Type})
		t.connectionEffect(a)
		return nil
	}
	a.Status = models.StatusPassed // executed when the runtime delivers the effect
	t.effect(IntentExecute, a, nil, map[string]any{"type": a.Type})
	return nil
}

// revert undoes a platform action that already happened, once.
func (t *txn) revert(a *models.Action, p *models.Proposal) {
	if a.Origin != models.OriginPlatform || a.Reverted {
		return
	}
	a.Reverted = true
	t.effect(IntentRevert, a, p, map[string]any{"type": a.Type})
}

// absorb turns an evaluation's recorded intents (other than execute) into effects, role
// changes and the proposal's new data and ballot.
func (t *txn) absorb(ev *evaluation, a *models.Action, p *models.Proposal) {
	for _, in := range ev.intents {
		switch in.Kind {
		case IntentRevert:
			t.revert(a, p)
		case IntentNotify, IntentPost:
			t.effect(in.Kind, a, p, in.Payload)
		case IntentStartVote:
			t.event("ballot.opened", p, a, nil, ev.ballot)
			if a.Platform != ConstitutionPlatform {
				t.effect("open_ballot", a, p, map[string]any{"kind": ev.ballot.Kind, "opened_at": ev.ballot.OpenedAt})
			}
		case IntentGrantRole, IntentRevokeRole:
			if err := t.changeRole(in); err != nil {
				t.event("role.change_failed", p, a, nil, map[string]any{"intent": in, "error": err.Error()})
			} else {
				t.event("role.changed", p, a, nil, in)
			}
		case IntentExecute:
			// Only a decided pass executes; an execute() in another stage is ignored, as the
			// policy editor warns.
		}
	}
	ev.intents = nil
	p.Data = ev.data
	p.Ballot = ev.ballot
}

func (t *txn) changeRole(in Intent) error {
	t.governanceChanged = true
	role, _ := in.Payload["role"].(string)
	r, err := t.tx.RoleByName(t.ctx, t.community.ID, role)
	if err != nil {
		return err
	}
	for _, id := range toIDs(in.Payload["members"]) {
		if in.Kind == IntentGrantRole {
			err = t.tx.GrantRole(t.ctx, t.community.ID, int64(id), r.ID)
		} else {
			err = t.tx.RevokeRole(t.ctx, t.community.ID, int64(id), r.ID)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// stageError records a policy error on the proposal and the policy. The proposal stays
// pending; a platform action is reverted while it waits. A database error met while the
// policy ran is not the policy's: it is returned, and nothing of this request is kept.
func (t *txn) stageError(a *models.Action, p *models.Proposal, v *models.PolicyVersion, err error) error {
	if ErrorKind(err) == ErrorKindStorage {
		return err
	}
	msg, kind := err.Error(), ErrorKind(err)
	if p.Error == "" || p.ErrorKind != kind {
		// A new error: recorded in the audit log, the log and on the policy once; the same
		// kind of error again (its words may differ: a time, a position) only updates the text.
		t.event("stage.error", p, a, nil, map[string]any{"error": msg, "kind": kind})
		t.e.log.Warn("policy error", "community", t.community.Slug, "policy", v.Name, "version", v.Version, "proposal", p.ID, "kind", kind, "err", msg)
		p.ErrorAt = &t.now
		if err := t.tx.RecordPolicyError(t.ctx, v.PolicyID, msg, t.now); err != nil {
			return fmt.Errorf("record the error of policy %d: %w", v.PolicyID, err)
		}
	}
	p.Error, p.ErrorKind = msg, kind
	t.revert(a, p)
	return nil
}

func (t *txn) save(a *models.Action, p *models.Proposal) error {
	now := t.now
	p.CheckedAt = &now
	if err := t.saveAction(a); err != nil {
		return err
	}
	if t.unsaved[p] {
		return nil // written whole by flush
	}
	return t.tx.UpdateProposal(t.ctx, p)
}

// shadow evaluates a dry-run policy beside the enforcing one and records what it would
// decide. Its memory (a jury it drew) is kept with the shadow decision.
func (t *txn) shadow(pc *policyChoice, a *models.Action, p *models.Proposal, initiator MemberInfo, vs []castVote) error {
	var prior []models.ShadowDecision
	if !t.unsaved[p] { // a new proposal has no dry-run decisions yet
		var err error
		if prior, err = t.tx.ShadowDecisions(t.ctx, t.community.ID, p.ID, pc.version.PolicyID); err != nil {
			return fmt.Errorf("dry-run decisions of proposal %d: %w", p.ID, err)
		}
	}
	sp := &models.Proposal{ID: p.ID, CreatedAt: p.CreatedAt, Seed: p.Seed, Data: map[string]any{}, Ballot: p.Ballot}
	first := true
	for _, d := range prior {
		if d.PolicyVersionID == pc.version.ID {
			if d.Outcome != Pending {
				return nil // already decided
			}
			sp.Data, first = d.Data, false
		}
	}
	d := &models.ShadowDecision{CommunityID: t.community.ID, ProposalID: p.ID, PolicyID: pc.version.PolicyID, PolicyVersionID: pc.version.ID, Outcome: Pending}
	ev := t.evaluation(a, sp, pc.version, initiator, vs)
	var err error
	if pc.programs == nil {
		err = pc.filterErr
	} else {
		if first {
			_, err = ev.run(StageInitialize, pc.programs.programs[StageInitialize])
		}
		if err == nil {
			var out any
			if out, err = ev.run(StageCheck, pc.programs.programs[StageCheck]); err == nil {
				d.Outcome = out.(string)
			}
		}
	}
	if ErrorKind(err) == ErrorKindStorage {
		return err
	}
	if err != nil {
		d.Error = err.Error()
	}
	d.Data = ev.data
	if d.Outcome != Pending {
		d.DecidedAt = &t.now
		t.event("dry_run.decided", p, a, nil, map[string]any{"policy_id": pc.version.PolicyID, "version": pc.version.Version, "outcome": d.Outcome})
	}
	if t.unsaved[p] {
		t.newShadows = append(t.newShadows, d) // after its proposal, in flush
		return nil
	}
	if err := t.tx.SaveShadowDecision(t.ctx, d); err != nil {
		return fmt.Errorf("save the dry-run decision of proposal %d: %w", p.ID, err)
	}
	return nil
}

func memberInfo(m *models.MemberWithPermissions) MemberInfo {
	return MemberInfo{ID: int(m.ID), Name: m.DisplayName, Roles: m.Roles}
}

func voteRecord(vs []castVote) []map[string]any {
	out := make([]map[string]any, len(vs))
	for i, v := range vs {
		out[i] = map[string]any{"member": v.member, "value": v.value}
	}
	return out
}
