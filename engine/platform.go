package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"policykit/models"
)

// Platform is what the engine needs from a platform plug-in (one package under integrations/).
// The website itself is the built-in "constitution" platform, whose actions the engine applies
// in its own transactions. Integrations implement this interface; the engine never imports
// them.
//
// Every delivery method receives the Call describing the effect being delivered. A method may
// be called again for the same effect after a crash or a failed attempt (Call.Effect.Attempts
// > 0): implementations reconcile with the platform's state first where the platform lets
// them (the channel already has the new name; our message is already there), so an effect is
// never applied twice.
type Platform interface {
	// Name is the platform's short name, the prefix of its action types and the last part of
	// its pages' paths ("/c/<slug>/platforms/<name>").
	Name() string
	// Info describes the platform to people: its pages and the summaries of proposals that
	// connect or disconnect it.
	Info() PlatformInfo
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

	// SetUp finishes a connection its community approved (constitution.connect_platform):
	// lists the members and channels, starts watching it. TearDown ends one its community
	// disconnected, while its credentials can still be read; the engine deletes it after.
	// Both are delivered as effects (retried after a failure or a crash), so they must be
	// idempotent.
	SetUp(ctx context.Context, conn *models.PlatformConnection) error
	TearDown(ctx context.Context, conn *models.PlatformConnection) error

	// Receive processes one delivery the platform accepted into the shared inbox (Inbox): an
	// event becomes a governed action (engine.Submit with the delivery's Receipt, so it is
	// governed once however often it is processed), a click a vote. An error is retried.
	Receive(ctx context.Context, d models.InboundDelivery) error
}

// LinkHolder is a platform that keeps long-lived connections open (a gateway session, a
// poller, a Socket Mode link). The runtime runs each Link in one process at a time, holding a
// lease in the database, and moves it to another replica when its process dies.
type LinkHolder interface {
	// Links lists the links that should run now; the runtime asks again every second, so a
	// link appears when a connection is set up and goes when it is torn down.
	Links(ctx context.Context) ([]Link, error)
}

// Link is one long-lived connection.
type Link struct {
	// Key names the link across the server: the platform's name, then what it is for
	// ("<platform>:socket-mode", "<platform>:poll:<space>").
	Key string
	// Run keeps the connection until ctx ends (the lease was lost, the process stops, the
	// link is no longer listed) or the connection fails; a failed link is started again.
	Run func(ctx context.Context) error
}

// PlatformInfo describes a platform to people.
type PlatformInfo struct {
	Label string // the platform's name for people
	Space string // what one connection is called ("workspace"), in the platform's own words
	// Connect is how a community connects: ConnectOAuth (consent on the platform's own page)
	// or ConnectForm (credentials typed into Fields, checked with the platform first).
	Connect      string
	ConnectLabel string            // the connect button, in the platform's words
	Fields       []CredentialField // the credentials form of a ConnectForm platform
	// SignIn is set when people can sign in with the platform and link their account to a
	// member by OAuth.
	SignIn bool
	About  string // what is governed once connected, in plain words
}

// How a community connects a platform (PlatformInfo.Connect).
const (
	ConnectOAuth = "oauth"
	ConnectForm  = "form"
)

// CredentialField is one field of a ConnectForm platform's credentials form.
type CredentialField struct {
	Name   string
	Label  string
	Help   string
	Secret bool // a password or client secret: never shown again
}

// OAuth round trips a platform's consent page is used for.
const (
	PurposeConnect = "connect" // connect the community (a bot install)
	PurposeSignIn  = "signin"  // sign in with the platform
	PurposeLink    = "link"    // link the platform account to the signed-in member
)

// Host is what a platform plug-in is built on: the engine it governs with, the shared inbox
// its inbound sources write to, and the site's public URL (OAuth redirects, links).
type Host struct {
	Engine  *Engine
	Inbox   *Inbox
	BaseURL string
	Log     *slog.Logger
}

// CallbackPath is where the website's routes take the browser back from a platform's
// consent page: the path of its OAuth redirect URI.
func CallbackPath(platform string) string { return "/integrations/" + platform + "/oauth" }

// CallbackURL is a platform's OAuth redirect URI on this site.
func (h Host) CallbackURL(platform string) string {
	return strings.TrimRight(h.BaseURL, "/") + CallbackPath(platform)
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
