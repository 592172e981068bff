package engine

import (
	"context"
	"fmt"

	"policykit/models"
)

// RetryAction tries again to carry out an approved action that could not be carried out:
// any member may ask, since the decision is made and only carrying it out is retried. It
// is checked again first; when it still cannot be carried out the error says why (an
// ErrInvalid with the reason) and the reason shown is brought up to date.
func (e *Engine) RetryAction(ctx context.Context, communityID, actionID, memberID int64) error {
	var still error
	err := e.governTx(ctx, communityID, func(t *txn) error {
		a, err := t.tx.ActionByID(ctx, communityID, actionID)
		if err != nil {
			return err
		}
		if !retryable(a) {
			return fmt.Errorf("this action is not waiting to be carried out again: %w", models.ErrConflict)
		}
		t.event("action.retried", nil, a, &memberID, map[string]any{"reason": a.Note})
		failed, err := t.tx.FailedEffectOf(ctx, a.ID, IntentExecute)
		if err != nil {
			return err
		}
		if failed == nil {
			if err := t.carryOut(a, nil); err != nil {
				return err
			}
		} else if _, err := e.checkAgain(ctx, t.tx, t.community, a); err != nil {
			if err := t.notCarriedOut(a, err); err != nil {
				return err
			}
		} else {
			// The platform refused it before: deliver the same execute effect again.
			if _, err := t.tx.RetryEffect(ctx, communityID, failed.ID, t.now); err != nil {
				return err
			}
			a.Status, a.Note = models.StatusPassed, ""
		}
		if a.Status == models.StatusNotCarriedOut {
			still = models.Invalid("action", a.Note)
		} else {
			t.redrawBallot(a, models.StatusPassed)
		}
		return t.saveAction(a)
	})
	if err == nil && still != nil {
		e.onDecided() // the reason changed; nothing to deliver, but pages read it at once
		return still
	}
	if err == nil {
		e.onDecided()
	}
	return err
}

// CanRetry tells whether retrying to carry out an action could help now: it was approved
// but not carried out, and its checks pass today.
func (e *Engine) CanRetry(ctx context.Context, c *models.Community, a *models.Action) bool {
	if !retryable(a) {
		return false
	}
	_, err := e.checkAgain(ctx, e.store, c, a)
	return err == nil
}

// retryable: approved, not carried out, and not an election (whose winner is carried out
// as an action of its own, retried on its own).
func retryable(a *models.Action) bool {
	return a.Status == models.StatusNotCarriedOut && a.Type != TypeElection
}

// redrawBallot shows an action's outcome again on its latest ballot on a platform, if it
// has one there. Each redraw is its own effect (the time makes its key), so the ballot ends
// showing the last outcome recorded.
func (t *txn) redrawBallot(a *models.Action, outcome string) {
	ps, err := t.tx.ProposalsOfAction(t.ctx, a.ID)
	if err != nil {
		t.e.log.Warn("redraw ballot", "action", a.ID, "err", err)
		return
	}
	for i := len(ps) - 1; i >= 0; i-- {
		if b := ps[i].Ballot; b != nil && len(b.Refs) > 0 {
			payload := map[string]any{"outcome": outcome, "at": t.now}
			if outcome == models.StatusNotCarriedOut {
				payload["reason"] = a.Note
			}
			t.effect("close_ballot", a, &ps[i], payload)
			return
		}
	}
}
