package engine

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"context"
	"errors"
	"fmt"
	"time"

	"policykit/models"
)

// VoteResult is a recorded vote and what it did to its proposal.
type VoteResult struct {
	Proposal *models.Proposal
	Tally    *Tally
	Changed  bool // the member had voted before and changed the vote
}

// CastVote records a member's vote and re-checks the proposal at once, in one transaction.
// The proposal row is locked (PostgreSQL) or the database is (SQLite), so concurrent votes
// queue: none is lost or doubled, and the proposal is decided once.
func (e *Engine) CastVote(ctx context.Context, communityID, proposalID, memberID int64, value any, via string) (*VoteResult, error) {
	var res *VoteResult
	err := e.governTx(ctx, communityID, func(t *txn) error {
		var err error
		res, err = t.castVote(proposalID, memberID, value, via)
		return err
	})
	return res, err
}

func (t *txn) castVote(proposalID, memberID int64, value any, via string) (*VoteResult, error) {
	ctx, tx, communityID := t.ctx, t.tx, t.community.ID
	p, err := tx.LockProposal(ctx, proposalID)
	if err != nil || p.CommunityID != communityID {
		return nil, fmt.Errorf("proposal: %w", models.ErrNotFound)
	}
	m, err := tx.MemberByID(ctx, communityID, memberID)
	if err != nil {
		return nil, err
	}
	if m.LeftAt != nil {
		return nil, fmt.Errorf("you have left this community: %w", models.ErrForbidden)
	}
	if p.Status != models.StatusPending {
		return nil, fmt.Errorf("voting has closed: the proposal %s: %w", p.Status, models.ErrConflict)
	}
	if p.Ballot == nil || p.Ballot.ClosedAt != nil {
		return nil, models.Invalid("value", "no vote is open on this proposal")
	}
	if !p.Ballot.IsEligible(memberID) {
		return nil, fmt.Errorf("you are not eligible to vote on this proposal: %w", models.ErrForbidden)
	}
	val, err := ValidateVote(p.Ballot, value)
	if err != nil {
		return nil, err
	}
	v := &models.Vote{CommunityID: communityID, ProposalID: p.ID, MemberID: memberID, Value: val, Via: via}
	changed, err := tx.UpsertVote(ctx, v)
	if err != nil {
		return nil, err
	}
	kind := "vote.cast"
	if changed {
		kind = "vote.changed"
	}
	t.event(kind, p, &models.Action{ID: p.ActionID}, &memberID, map[string]any{"value": val, "via": via})
	if err := t.recheck(p); err != nil {
		return nil, err
	}
	tally, err := t.tally(p)
	if err != nil {
		return nil, err
	}
	if p.Status == models.StatusPending && p.Ballot != nil {
		if act, err := tx.ActionByID(ctx, communityID, p.ActionID); err == nil && act.Platform != ConstitutionPlatform {
			t.effect("update_ballot", act, p, map[string]any{"voters": tally.Voters, "counts": tally.Counts})
		}
	}
	return &VoteResult{Proposal: p, Tally: tally, Changed: changed}, nil
}

// Recheck re-evaluates one pending proposal now.
func (e *Engine) Recheck(ctx context.Context, communityID, proposalID int64) (*models.Proposal, error) {
	var out *models.Proposal
	err := e.governTx(ctx, communityID, func(t *txn) error {
		p, err := t.tx.LockProposal(ctx, proposalID)
		if err != nil || p.CommunityID != communityID {
			return fmt.Errorf("proposal: %w", models.ErrNotFound)
		}
		out = p
		return t.recheck(p)
	})
	return out, err
}

// Tally counts a proposal's votes.
func (e *Engine) Tally(ctx context.Context, p *models.Proposal) (*Tally, error) {
	t := &txn{e: e, ctx: ctx, tx: e.store}
	return t.tally(p)
}

func (t *txn) tally(p *models.Proposal) (*Tally, error) {
	if p.Ballot == nil {
		return nil, nil
	}
	vs, err := t.tx.VotesOf(t.ctx, []int64{p.ID})
	if err != nil {
		return nil, err
	}
	left, err := t.tx.LeftMemberIDs(t.ctx, p.CommunityID)
	if err != nil {
		return nil, err
	}
	set := make(map[int64]bool, len(left))
	for _, id := range left {
		set[id] = true
	}
	return TallyOf(p.Ballot, vs[p.ID], set), nil
}

// recheck re-runs the check stage of a locked, pending proposal and acts on the outcome.
func (t *txn) recheck(p *models.Proposal) error {
	if p.Status != models.StatusPending {
		return nil
	}
	a, err := t.tx.ActionByID(t.ctx, p.CommunityID, p.ActionID)
	if err != nil {
		return err
	}
	vs, err := t.tx.PolicyVersionsByID(t.ctx, []int64{p.PolicyVersionID})
	if err != nil || len(vs) != 1 {
		return fmt.Errorf("policy version %d of proposal %d: %w", p.PolicyVersionID, p.ID, errors.Join(err, models.ErrNotFound))
	}
	v := &vs[0]
	initiator, err := t.initiator(a)
	if err != nil {
		return err
	}
	votes, err := t.tx.VotesOf(t.ctx, []int64{p.ID})
	if err != nil {
		return err
	}
	cast := decodeVotes(votes[p.ID])
	progs, cerr := t.e.programs.get(v)
	pc := &policyChoice{version: v, programs: progs, filterErr: cerr}
	if progs == nil {
		if err := t.stageError(a, p, v, cerr); err != nil {
			return err
		}
		return t.save(a, p)
	}
	if err := t.check(t.evaluation(a, p, v, initiator, cast), pc, a, p); err != nil {
		return err
	}
	return t.recheckShadows(a, p, initiator, cast)
}

// recheckShadows re-evaluates the dry-run policies still undecided on a proposal.
func (t *txn) recheckShadows(a *models.Action, p *models.Proposal, initiator MemberInfo, cast []castVote) error {
	ds, err := t.tx.ShadowDecisions(t.ctx, t.community.ID, p.ID, 0)
	if err != nil {
		return err
	}
	var ids []int64
	for _, d := range ds {
		if d.Outcome == Pending {
			ids = append(ids, d.PolicyVersionID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	vs, err := t.tx.PolicyVersionsByID(t.ctx, ids)
	if err != nil {
		return err
	}
	for i := range vs {
		progs, cerr := t.e.programs.get(&vs[i])
		if err := t.shadow(&policyChoice{version: &vs[i], programs: progs, filterErr: cerr}, a, p, initiator, cast); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) initiator(a *models.Action) (MemberInfo, error) {
	if a.InitiatorID == nil {
		return MemberInfo{}, nil
	}
	infos, err := t.tx.MemberInfos(t.ctx, []int64{*a.InitiatorID})
	if err != nil {
		return MemberInfo{}, err
	}
	m := infos[*a.InitiatorID]
	return MemberInfo{ID: int(m.ID), Name: m.DisplayName, Roles: m.Roles}, nil
}

// PassStats describes one check pass over the pending proposals.
type PassStats struct {
	Started  time.Time
	Duration time.Duration
	Checked  int // proposals evaluated
	Decided  int // proposals that passed or failed
	Errors   int // proposals whose policy raised an error
	// Deferred proposals were not evaluated: their policy went over budget lately and waits
	// for its retry time (counted in Errors too).
	Deferred int
}

// checkBatchSize is how many pending proposals one pass loads at a time.
const checkBatchSize = 1000

// checkWorkers is how many batches a pass loads and evaluates at once: while one waits for
// the database, another decodes or evaluates.
const checkWorkers = 3

// CheckPending re-checks every pending proposal, set-wise: each batch loads its proposals,
// actions, policy versions, initiators and votes in one query each and evaluates the cached
// programs in memory. Only proposals whose outcome or error changed are written, in one
// transaction per batch that locks them and re-evaluates them there, so a replica racing on
// the same proposal cannot decide it twice.
func (e *Engine) CheckPending(ctx context.Context) (PassStats, error) {
	stats := PassStats{Started: e.Now()}
	// One goroutine walks the pending index and hands out id ranges; workers load and
	// check a range each, on their own connections.
	g, gctx := errgroup.WithContext(ctx)
	ranges := make(chan [2]int64)
	g.Go(func() error {
		defer close(ranges)
		var after int64
		for {
			end, err := e.store.NextPendingRange(gctx, after, checkBatchSize)
			if err != nil || end == 0 {
				return err
			}
			select {
			case ranges <- [2]int64{after, end}:
			case <-gctx.Done():
				return gctx.Err()
			}
			after = end
		}
	})
	var mu sync.Mutex
	shares := e.shares.begin()
	for range checkWorkers {
		g.Go(func() error {
			for r := range ranges {
				pb, err := e.store.LoadPendingBatch(gctx, r[0], r[1])
				if err != nil {
					return err
				}
				if len(pb.Proposals) == 0 {
					continue // decided since the range was listed
				}
				var s PassStats
				err = e.checkBatch(gctx, pb, shares, &s)
				mu.Lock()
				stats.Checked, stats.Decided, stats.Errors = stats.Checked+s.Checked, stats.Decided+s.Decided, stats.Errors+s.Errors
				stats.Deferred += s.Deferred
				mu.Unlock()
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return stats, err
	}
	e.shares.end(shares)
	stats.Duration = e.Now().Sub(stats.Started)
	return stats, nil
}

func (e *Engine) checkBatch(ctx context.Context, pb *models.PendingBatch, shares *passShare, stats *PassStats) error {
	b, err := e.completeBatch(ctx, pb)
	if err != nil {
		return err
	}
	now := e.Now()
	changed := map[int64][]int64{} // community → proposals to write
	for i := range b.proposals {
		if err := ctx.Err(); err != nil {
			return err // shutting down: a pass stops between two evaluations
		}
		p := &b.proposals[i]
		stats.Checked++
		a, v := b.actions[p.ActionID], b.versions[p.PolicyVersionID]
		if a == nil || v == nil {
			continue
		}
		progs, cerr := e.programs.get(v)
		if cerr != nil {
			if p.ErrorKind != ErrorKindCompile {
				changed[p.CommunityID] = append(changed[p.CommunityID], p.ID)
			}
			stats.Errors++
			continue
		}
		if e.retries.waiting(p.ID, now) {
			stats.Errors++ // over budget lately: not evaluated again before its retry time
			stats.Deferred++
			continue
		}
		if !shares.turn(p.CommunityID, p.ID) {
			stats.Deferred++ // its community had its share of this pass
			continue
		}
		init := MemberInfo{}
		if a.InitiatorID != nil {
			m := b.members[*a.InitiatorID]
			init = MemberInfo{ID: int(m.ID), Name: m.DisplayName, Roles: m.Roles}
		}
		ev := newEvaluation(now, a, p, v, b.view(ctx, e.store, p.CommunityID), init, decodeVotes(b.votes[p.ID]))
		out, err := ev.run(StageCheck, progs.programs[StageCheck])
		shares.spend(p.CommunityID, ev.spent.steps)
		if err == nil && p.ErrorKind != "" {
			e.retries.forget(p.ID)
		}
		switch {
		case ErrorKind(err) == ErrorKindStorage:
			return err
		case err != nil:
			stats.Errors++
			if ErrorKind(err) == ErrorKindBudget {
				e.retries.later(p.ID, now)
			}
			if p.ErrorKind != ErrorKind(err) {
				changed[p.CommunityID] = append(changed[p.CommunityID], p.ID)
			}
		case out != Pending || p.Error != "" || len(ev.intents) > 0 || ev.dataDirty:
			changed[p.CommunityID] = append(changed[p.CommunityID], p.ID)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	// Each community's changed proposals are re-checked and written through group commit,
	// like votes: a slow community's re-checks run alone, a few at a time, never in a
	// transaction that another community waits on.
	var decided atomic.Int64
	errs := make([]error, 0, len(changed))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for cid, ids := range changed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.recheckChanged(ctx, cid, ids, now, &decided); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	stats.Decided += int(decided.Load())
	return errors.Join(errs...)
}

// recheckChanged re-checks proposals of one community under lock and writes what changed,
// in requests that stop taking proposals once their policies have used half of
// maxRequestEval (the rest go in the next request).
func (e *Engine) recheckChanged(ctx context.Context, communityID int64, ids []int64, now time.Time, decided *atomic.Int64) error {
	for len(ids) > 0 {
		var rest []int64
		err := e.governTx(ctx, communityID, func(t *txn) error {
			t.now = now
			for i, id := range ids {
				if t.evalTime >= maxRequestEval/2 {
					rest = ids[i:]
					return nil
				}
				p, ok, err := t.tx.TryLockProposal(ctx, id)
				if err != nil {
					return err
				}
				if !ok {
					continue // another replica is deciding it
				}
				if err := t.recheck(p); err != nil {
					return err
				}
				if p.Status != models.StatusPending {
					decided.Add(1)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		ids = rest
	}
	return nil
}

// batch is everything one check batch reads, loaded set-wise.
type batch struct {
	proposals []models.Proposal
	actions   map[int64]*models.Action
	versions  map[int64]*models.PolicyVersion
	members   map[int64]models.MemberWithRoles
	votes     map[int64][]models.Vote
	views     map[int64]*communityView
	comms     map[int64]*models.Community
}

// loadBatch reads given proposals and what re-checking them needs (used by the audit
// re-tally, which knows its proposal ids).
func (e *Engine) loadBatch(ctx context.Context, ids []int64) (*batch, error) {
	ps, err := e.store.ProposalsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	as, err := e.store.ActionsByID(ctx, distinct(ps, func(p models.Proposal) int64 { return p.ActionID }))
	if err != nil {
		return nil, err
	}
	vs, err := e.store.VotesOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	return e.completeBatch(ctx, &models.PendingBatch{Proposals: ps, Actions: as, Votes: vs})
}

// completeBatch adds the policy versions, initiators and communities of a batch, one query
// each.
func (e *Engine) completeBatch(ctx context.Context, pb *models.PendingBatch) (*batch, error) {
	ps := pb.Proposals
	b := &batch{proposals: ps, actions: make(map[int64]*models.Action, len(pb.Actions)), versions: map[int64]*models.PolicyVersion{},
		votes: pb.Votes, views: map[int64]*communityView{}, comms: map[int64]*models.Community{}}
	var initiators []int64
	for i := range pb.Actions {
		b.actions[pb.Actions[i].ID] = &pb.Actions[i]
		if id := pb.Actions[i].InitiatorID; id != nil {
			initiators = append(initiators, *id)
		}
	}
	vs, err := e.store.PolicyVersionsByID(ctx, distinct(ps, func(p models.Proposal) int64 { return p.PolicyVersionID }))
	if err != nil {
		return nil, err
	}
	for i := range vs {
		b.versions[vs[i].ID] = &vs[i]
	}
	if b.members, err = e.store.MemberInfos(ctx, distinct(initiators, func(id int64) int64 { return id })); err != nil {
		return nil, err
	}
	cs, err := e.store.CommunitiesByID(ctx, distinct(ps, func(p models.Proposal) int64 { return p.CommunityID }))
	if err != nil {
		return nil, err
	}
	for i := range cs {
		b.comms[cs[i].ID] = &cs[i]
	}
	return b, nil
}

// view returns the batch's shared community view (members and roles loaded at most once).
func (b *batch) view(ctx context.Context, store *models.Store, communityID int64) *communityView {
	v, ok := b.views[communityID]
	if !ok {
		v = newCommunityView(ctx, store, b.comms[communityID], nil)
		b.views[communityID] = v
	}
	return v
}

func distinct[T any](items []T, key func(T) int64) []int64 {
	seen := make(map[int64]bool, len(items))
	out := make([]int64, 0, len(items))
	for _, it := range items {
		if k := key(it); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
