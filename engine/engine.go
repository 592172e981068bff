// Package engine is the governance pipeline: it receives actions, runs the permission gate,
// picks the governing policy, evaluates its six expr stages, counts votes, and stores each
// decision with its effects and audit events in one transaction. Platforms are reached only
// through the Platform interface; delivery of stored effects is the runtime (runtime.go).
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"policykit/models"
)

// Engine governs the actions of every community on one database.
type Engine struct {
	store     *models.Store
	log       *slog.Logger
	clock     func() time.Time
	types     *registry
	platforms map[string]Platform
	programs  *programCache
	// policyVersions caches each community's active policies per kind (by policy epoch).
	policyVersions *versionCache
	// access caches members' roles and permissions (by the same epoch).
	access  *accessCache
	members *memberCache
	commits []*groupCommit
	// retries spaces out re-evaluations of proposals whose policy went over budget.
	retries *retryTimes
	// slow marks communities whose policies are too slow to share a transaction.
	slow *slowCommunities
	// shares divides each check pass's evaluation time among communities.
	shares *passShares
	// onDecided is told about proposals that were just decided (the runtime delivers their
	// effects at once instead of waiting for its next poll).
	onDecided func()
}

// Options configure an Engine.
type Options struct {
	Log       *slog.Logger
	Clock     func() time.Time // defaults to time.Now; tests drive it
	Platforms []Platform
}

// New builds an engine with the constitution action types and every platform's types.
func New(store *models.Store, opts Options) (*Engine, error) {
	e := &Engine{
		store:          store,
		log:            opts.Log,
		clock:          opts.Clock,
		types:          newRegistry(),
		platforms:      map[string]Platform{},
		programs:       newProgramCache(),
		policyVersions: newVersionCache(),
		access:         newAccessCache(),
		members:        newMemberCache(),
		commits:        groupCommits(store.Dialect()),
		retries:        newRetryTimes(),
		slow:           newSlowCommunities(),
		shares:         newPassShares(),
		onDecided:      func() {},
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.clock == nil {
		e.clock = time.Now
	}
	if err := e.types.add(ConstitutionTypes()...); err != nil {
		return nil, err
	}
	for _, p := range opts.Platforms {
		if err := e.Register(p); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Register adds a platform plug-in built on this engine (engine.Host) and its action types.
// Call it before the engine governs anything.
func (e *Engine) Register(p Platform) error {
	if _, dup := e.platforms[p.Name()]; dup || p.Name() == ConstitutionPlatform {
		return fmt.Errorf("platform %q registered twice", p.Name())
	}
	if err := e.types.add(p.ActionTypes()...); err != nil {
		return err
	}
	e.platforms[p.Name()] = p
	return nil
}

// Platform returns a registered platform by name.
func (e *Engine) Platform(name string) (Platform, bool) {
	p, ok := e.platforms[name]
	return p, ok
}

// Store returns the engine's store.
func (e *Engine) Store() *models.Store { return e.store }

// Now is the engine's current time (the injected clock in tests).
func (e *Engine) Now() time.Time { return e.clock().UTC() }

// ActionTypes lists every action type, by platform then name.
func (e *Engine) ActionTypes() []ActionType { return e.types.sorted() }

// ActionType finds an action type by name.
func (e *Engine) ActionType(name string) (ActionType, error) { return e.types.lookup(name) }

// PlatformNames lists registered platforms.
func (e *Engine) PlatformNames() []string {
	out := make([]string, 0, len(e.platforms))
	for n := range e.platforms {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// OnDecided registers a function called (without arguments, after commit) whenever a
// decision recorded effects; the runtime uses it to deliver them at once.
func (e *Engine) OnDecided(fn func()) { e.onDecided = fn }

// CheckPolicy compiles policy sources against the environment, as done when a policy is
// proposed: broken code is refused with line and column per stage.
func CheckPolicy(src Sources) error {
	_, err := Compile(src)
	return err
}

// withTx runs fn in a transaction and, after it commits, tells the runtime when effects
// were recorded.
func (e *Engine) withTx(ctx context.Context, fn func(tx *models.Store) (effects bool, err error)) error {
	recorded := false
	err := e.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		recorded, err = fn(tx)
		return err
	})
	if err == nil && recorded {
		e.onDecided()
	}
	return err
}
