package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"policykit/models"
)

// Delivery policy for stored effects.
const (
	// claimLease is how long a worker owns a claimed effect. A worker that crashes keeps it
	// this long; then another worker takes it over (and reconciles).
	claimLease = time.Minute
	// maxAttempts is how many failed attempts make an effect fail for good.
	maxAttempts = 8
	// backoffBase and backoffMax bound the exponential backoff between attempts.
	backoffBase = time.Second
	backoffMax  = 10 * time.Minute
	// claimBatch is how many effects one delivery round claims.
	claimBatch = 64
)

// DeliveryStats counts what one delivery round did.
type DeliveryStats struct {
	Delivered   int
	Rescheduled int // failed or rate limited, to be tried again
	Failed      int // gave up
}

// DeliverDue delivers every effect that is due now, round after round, until none is left
// (an effect of an action becomes due when the one recorded before it is delivered). Each
// round claims a batch and delivers its effects concurrently: a claimed batch holds at most
// one effect per action, so order within an action is kept.
func (e *Engine) DeliverDue(ctx context.Context, worker string) (DeliveryStats, error) {
	var total DeliveryStats
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		now := e.Now()
		claimed, err := e.store.ClaimEffects(ctx, worker, now, now.Add(claimLease), claimBatch)
		if err != nil {
			return total, err
		}
		if len(claimed) == 0 {
			return total, nil
		}
		calls, err := e.callsFor(ctx, claimed)
		if err != nil {
			return total, err
		}
		results := make([]delivery, len(claimed))
		var wg sync.WaitGroup
		for i := range claimed {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = e.deliverOne(ctx, calls[i])
			}()
		}
		wg.Wait()
		// Record the whole round in one transaction: one commit instead of several per
		// effect. A crash before it commits is the crash the claims' lease already covers.
		if err := e.recordDeliveries(context.WithoutCancel(ctx), worker, results); err != nil {
			return total, err
		}
		for _, r := range results {
			switch r.outcome {
			case deliveredOK:
				total.Delivered++
			case deliveryRetry:
				total.Rescheduled++
			case deliveryFailed:
				total.Failed++
			}
		}
	}
}

type deliveryOutcome int

const (
	deliveredOK deliveryOutcome = iota
	deliveryRetry
	deliveryFailed
)

// delivery is the outcome of calling the platform for one claimed effect.
type delivery struct {
	effect  models.Effect
	action  *models.Action
	outcome deliveryOutcome
	refs    map[string]string
	err     error
	next    time.Time // when to try again
	counted bool      // whether the attempt counts toward the limit (a rate limit does not)
}

// deliverOne calls the platform for one claimed effect and decides what happens next.
func (e *Engine) deliverOne(ctx context.Context, call Call) delivery {
	ef := call.Effect
	refs, err := e.callPlatform(ctx, call)
	d := delivery{effect: ef, action: call.Action, refs: refs, err: err}
	var rl *RateLimitedError
	switch {
	case err == nil:
		d.outcome = deliveredOK
	case errors.As(err, &rl):
		d.outcome, d.next = deliveryRetry, e.Now().Add(max(rl.RetryAfter, time.Second))
	case errors.Is(err, ErrPermanent) || ef.Attempts >= maxAttempts:
		e.log.Warn("effect failed", "effect", ef.ID, "kind", ef.Kind, "platform", ef.Platform, "attempts", ef.Attempts, "err", err)
		d.outcome = deliveryFailed
	default:
		d.outcome, d.next, d.counted = deliveryRetry, e.Now().Add(backoff(ef.Attempts)), true
	}
	return d
}

// recordDeliveries stores the outcomes of a delivery round and what delivered effects
// changed: an executed action, the references of a ballot on the platform.
func (e *Engine) recordDeliveries(ctx context.Context, worker string, ds []delivery) error {
	if err := e.recordRound(ctx, worker, ds); err != nil {
		return err
	}
	for _, d := range ds {
		if d.outcome == deliveryFailed && d.effect.Kind == IntentExecute && d.action != nil {
			if err := e.executionFailed(ctx, d.action.ID, d.effect, d.err); err != nil {
				return fmt.Errorf("record that action %d was not carried out: %w", d.action.ID, err)
			}
		}
	}
	return nil
}

// executionFailed records that an approved action could not be carried out on its platform
// (its execute effect failed for good): the action's outcome and why, in the audit log too,
// and its ballot on the platform redrawn to say so.
func (e *Engine) executionFailed(ctx context.Context, actionID int64, ef models.Effect, cause error) error {
	return e.withTx(ctx, func(tx *models.Store) (bool, error) {
		t, err := e.begin(ctx, tx, ef.CommunityID)
		if err != nil {
			return false, err
		}
		a, err := tx.ActionByID(ctx, ef.CommunityID, actionID)
		if err != nil || a.Status != models.StatusPassed {
			return false, err
		}
		t.recordNotCarriedOut(a, fmt.Errorf("%s refused it: %w", PlatformLabel(a.Platform), cause))
		if err := tx.UpdateAction(ctx, a); err != nil {
			return false, err
		}
		t.redrawBallot(a, models.StatusNotCarriedOut)
		return t.flush()
	})
}

// recordRound stores the outcomes of a delivery round in one transaction.
func (e *Engine) recordRound(ctx context.Context, worker string, ds []delivery) error {
	now := e.Now()
	return e.store.Tx(ctx, func(tx *models.Store) error {
		for _, d := range ds {
			ef := d.effect
			var err error
			switch d.outcome {
			case deliveredOK:
				result := make(map[string]any, len(d.refs))
				for k, v := range d.refs {
					result[k] = v
				}
				err = tx.CompleteEffect(ctx, ef.ID, worker, result, now)
				switch {
				case err == nil && ef.Kind == IntentExecute && d.action != nil:
					err = tx.MarkActionExecuted(ctx, d.action, d.refs)
				case err == nil && ef.Kind == "open_ballot" && ef.ProposalID != nil && len(d.refs) > 0:
					err = tx.SetBallotRefs(ctx, *ef.ProposalID, d.refs)
				}
			case deliveryRetry:
				err = tx.RescheduleEffect(ctx, ef.ID, worker, d.next, d.err.Error(), d.counted)
			case deliveryFailed:
				err = tx.FailEffect(ctx, ef.ID, worker, d.err.Error())
			}
			if err != nil {
				return fmt.Errorf("record delivery of effect %d: %w", ef.ID, err)
			}
		}
		return nil
	})
}

// backoff is the wait after the n-th failed attempt: exponential, capped, with jitter so
// retries after an outage do not arrive all at once.
func backoff(n int) time.Duration {
	d := backoffBase << min(n-1, 20)
	if d > backoffMax || d <= 0 {
		d = backoffMax
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// callPlatform dispatches an effect to its platform method.
func (e *Engine) callPlatform(ctx context.Context, call Call) (map[string]string, error) {
	ef := call.Effect
	if ef.Platform == ConstitutionPlatform {
		// The website's own messages are shown on the proposal's timeline; nothing to send.
		return nil, nil
	}
	p, ok := e.platforms[ef.Platform]
	if ef.Kind == EffectTearDown && !ok {
		return nil, e.deliverConnection(ctx, nil, call) // disconnecting needs nothing from it
	}
	if !ok {
		return nil, Permanent(fmt.Errorf("platform %q is not configured on this server", ef.Platform))
	}
	if call.Action == nil || call.Community == nil {
		return nil, Permanent(fmt.Errorf("effect %d: its action or community no longer exists", ef.ID))
	}
	switch ef.Kind {
	case EffectSetUp, EffectTearDown:
		return nil, e.deliverConnection(ctx, p, call)
	case IntentExecute:
		return p.Execute(ctx, call)
	case IntentRevert:
		return nil, p.Revert(ctx, call)
	case IntentPost:
		text, _ := ef.Payload["text"].(string)
		return nil, p.Post(ctx, call, text)
	case IntentNotify:
		text, _ := ef.Payload["text"].(string)
		ids := toIDs(ef.Payload["members"])
		members := make([]int64, len(ids))
		for i, id := range ids {
			members[i] = int64(id)
		}
		return nil, p.Notify(ctx, call, members, text)
	case "open_ballot":
		return p.OpenBallot(ctx, call)
	case "update_ballot":
		return nil, p.UpdateBallot(ctx, call)
	case "close_ballot":
		return nil, p.CloseBallot(ctx, call)
	}
	return nil, Permanent(fmt.Errorf("unknown effect kind %q", ef.Kind))
}

// callsFor loads what the platforms need to deliver a batch of effects, set-wise: their
// communities, actions and proposals in one query each, and tallies only for ballots.
func (e *Engine) callsFor(ctx context.Context, effects []models.Effect) ([]Call, error) {
	var actionIDs, proposalIDs []int64
	for _, ef := range effects {
		if ef.ActionID != nil {
			actionIDs = append(actionIDs, *ef.ActionID)
		}
		if ef.ProposalID != nil {
			proposalIDs = append(proposalIDs, *ef.ProposalID)
		}
	}
	cs, err := e.store.CommunitiesByID(ctx, distinct(effects, func(ef models.Effect) int64 { return ef.CommunityID }))
	if err != nil {
		return nil, err
	}
	as, err := e.store.ActionsByID(ctx, actionIDs)
	if err != nil {
		return nil, err
	}
	ps, err := e.store.ProposalsByID(ctx, proposalIDs)
	if err != nil {
		return nil, err
	}
	comms, actions, proposals := byID(cs, func(c *models.Community) int64 { return c.ID }),
		byID(as, func(a *models.Action) int64 { return a.ID }), byID(ps, func(p *models.Proposal) int64 { return p.ID })
	calls := make([]Call, len(effects))
	for i, ef := range effects {
		call := Call{Effect: ef, Community: comms[ef.CommunityID]}
		if ef.ActionID != nil {
			call.Action = actions[*ef.ActionID]
		}
		if ef.ProposalID != nil {
			call.Proposal = proposals[*ef.ProposalID]
		}
		if call.Proposal != nil && strings.HasSuffix(ef.Kind, "_ballot") {
			if call.Tally, err = e.Tally(ctx, call.Proposal); err != nil {
				return nil, err
			}
		}
		calls[i] = call
	}
	return calls, nil
}

// byID indexes rows by their id.
func byID[T any](rows []T, id func(*T) int64) map[int64]*T {
	out := make(map[int64]*T, len(rows))
	for i := range rows {
		out[id(&rows[i])] = &rows[i]
	}
	return out
}

// RetryEffect queues a failed effect again (any member may ask: the decision behind it is
// already made; only its delivery is retried).
func (e *Engine) RetryEffect(ctx context.Context, communityID, effectID, memberID int64) error {
	ef, err := e.store.RetryEffect(ctx, communityID, effectID, e.Now())
	if err != nil {
		return err
	}
	err = e.store.Tx(ctx, func(tx *models.Store) error {
		if _, err := tx.LockCommunity(ctx, communityID); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, communityID, e.Now(), models.NewAuditEvent{Kind: "effect.retried",
			ProposalID: ef.ProposalID, ActionID: ef.ActionID, MemberID: &memberID, Payload: map[string]any{"effect": ef.ID, "kind": ef.Kind}})
	})
	if err == nil {
		e.onDecided()
	}
	return err
}
