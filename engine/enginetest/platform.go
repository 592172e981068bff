// Package enginetest provides a platform for engine tests that records every call instead
// of talking to Slack or Discord, and helpers to set up governed communities.
package enginetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"policykit/engine"
	"policykit/models"
)

// Call is one recorded platform call.
type Call struct {
	Method   string // execute, revert, post, notify, open_ballot, update_ballot, close_ballot
	ActionID int64
	Type     string
	Text     string
	Members  []int64
	Attempt  int
}

// Platform is an in-memory platform named "test". It governs two action types, records
// every delivery, and can be told to fail the next calls.
type Platform struct {
	mu       sync.Mutex
	calls    []Call
	failures []error
	// Applied counts executions per action, the platform's own state used to reconcile an
	// interrupted delivery (so a retried execute is not applied twice).
	applied map[int64]int
}

// NewPlatform returns an empty recording platform.
func NewPlatform() *Platform { return &Platform{applied: map[int64]int{}} }

// Name implements engine.Platform.
func (p *Platform) Name() string { return "test" }

// ActionTypes implements engine.Platform.
func (p *Platform) ActionTypes() []engine.ActionType {
	return []engine.ActionType{
		{Name: "test.post_message", Label: "Post a message", Platform: "test", Params: []engine.Param{
			{Name: "channel", Label: "Channel", Type: engine.ParamChannel, Required: true},
			{Name: "text", Label: "Text", Type: engine.ParamText, Required: true, Max: 4000}}},
		{Name: "test.rename_channel", Label: "Rename a channel", Platform: "test", Check: checkRename, Params: []engine.Param{
			{Name: "channel", Label: "Channel", Type: engine.ParamChannel, Required: true},
			{Name: "name", Label: "New name", Type: engine.ParamString, Required: true, Max: 80},
			{Name: "previous_name", Label: "Previous name", Type: engine.ParamString, Max: 80}}},
	}
}

// checkRename refuses renaming a channel to the name it has, as a platform's checks do.
func checkRename(ctx context.Context, s *engine.State, p map[string]any) error {
	if !s.Proposed() {
		return nil
	}
	ch, err := s.Store.ChannelByID(ctx, s.Connection.ID, p["channel"].(string))
	if err != nil {
		return err
	}
	if name, _ := p["name"].(string); ch.Name == name {
		return models.Invalid("name", "no change: the channel already has this name")
	}
	return nil
}

// FailNext makes the next len(errs) calls return these errors (nil entries succeed).
func (p *Platform) FailNext(errs ...error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures = append(p.failures, errs...)
}

func (p *Platform) record(c engine.Call, method, text string, members []int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	call := Call{Method: method, Text: text, Members: members, Attempt: c.Effect.Attempts}
	if c.Action != nil {
		call.ActionID, call.Type = c.Action.ID, c.Action.Type
	}
	p.calls = append(p.calls, call)
	if len(p.failures) > 0 {
		err := p.failures[0]
		p.failures = p.failures[1:]
		if err != nil {
			return err
		}
	}
	return nil
}

// Execute implements engine.Platform; it is idempotent per action, as a real platform
// reconciles with its own state (the channel already has the new name).
func (p *Platform) Execute(_ context.Context, c engine.Call) (map[string]string, error) {
	if err := p.record(c, "execute", "", nil); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.applied[c.Action.ID] == 0 {
		p.applied[c.Action.ID]++
	}
	return map[string]string{"executed_at": time.Now().UTC().Format(time.RFC3339Nano)}, nil
}

// Revert implements engine.Platform.
func (p *Platform) Revert(_ context.Context, c engine.Call) error {
	return p.record(c, "revert", "", nil)
}

// Post implements engine.Platform.
func (p *Platform) Post(_ context.Context, c engine.Call, text string) error {
	return p.record(c, "post", text, nil)
}

// Notify implements engine.Platform.
func (p *Platform) Notify(_ context.Context, c engine.Call, members []int64, text string) error {
	return p.record(c, "notify", text, members)
}

// OpenBallot implements engine.Platform.
func (p *Platform) OpenBallot(_ context.Context, c engine.Call) (map[string]string, error) {
	return map[string]string{"ballot": fmt.Sprint(c.Effect.ID)}, p.record(c, "open_ballot", "", nil)
}

// UpdateBallot implements engine.Platform.
func (p *Platform) UpdateBallot(_ context.Context, c engine.Call) error {
	return p.record(c, "update_ballot", "", nil)
}

// CloseBallot implements engine.Platform.
func (p *Platform) CloseBallot(_ context.Context, c engine.Call) error {
	return p.record(c, "close_ballot", "", nil)
}

// Calls returns the recorded calls, optionally only those of one method.
func (p *Platform) Calls(method string) []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Call
	for _, c := range p.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Applied tells how many times an action was carried out on this platform (0 or 1).
func (p *Platform) Applied(actionID int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied[actionID]
}

// ErrOutage is a transient failure for FailNext.
var ErrOutage = errors.New("test platform: 500 internal error")
