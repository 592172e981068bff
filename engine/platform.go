package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"policykit/models"
)

// Platform is what the engine needs from a connected platform (Slack, Discord, Reddit). The
// website itself is the built-in "constitution" platform, whose actions the engine applies in
// its own transactions. Integrations implement this interface; the engine never imports them.
//
// Every delivery method receives the Call describing the effect being delivered. A method may
// be called again for the same effect after a crash or a failed attempt (Call.Effect.Attempts
// > 0): implementations reconcile with the platform's state first where the platform lets
// them (the channel already has the new name; our message is already there), so an effect is
// never applied twice.
type Platform interface {
	// Name is the platform's short name, the prefix of its action types ("slack").
	Name() string
	// ActionTypes lists the governable action types of the platform.
	ActionTypes() []ActionType
	// Execute performs the action (an approved proposal, or re-doing one we reverted) and
	// returns new external references (the id of a re-posted message...).
	Execute(ctx context.Context, c Call) (map[string]string, error)
	// Revert undoes an action that already happened on the platform.
	Revert(ctx context.Context, c Call) error
	// Post writes a message where the action happened (its channel).
	Post(ctx context.Context, c Call, text string) error
	// Notify messages members privately.
	Notify(ctx context.Context, c Call, memberIDs []int64, text string) error
	// OpenBallot shows the proposal's ballot on the platform (buttons) and returns references
	// to the ballot messages; UpdateBallot redraws the tally; CloseBallot shows the outcome.
	OpenBallot(ctx context.Context, c Call) (map[string]string, error)
	UpdateBallot(ctx context.Context, c Call) error
	CloseBallot(ctx context.Context, c Call) error
}

// Call is the context of one effect delivery.
type Call struct {
	Effect    models.Effect
	Action    *models.Action
	Proposal  *models.Proposal // nil for effects of actions decided without a proposal
	Community *models.Community
	Tally     *Tally // the proposal's current tally, for ballots
}

// RateLimitedError asks the runtime to try again after RetryAfter, without counting a failure.
type RateLimitedError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s: %v", e.RetryAfter, e.Err)
}

func (e *RateLimitedError) Unwrap() error { return e.Err }

// ErrPermanent marks delivery errors that retrying cannot fix (the channel was deleted, the
// token was revoked): the effect fails at once and shows on the proposal for an admin.
var ErrPermanent = errors.New("permanent delivery failure")

// Permanent wraps err as a permanent failure.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// ConstitutionPlatform is the website itself.
const ConstitutionPlatform = "constitution"
