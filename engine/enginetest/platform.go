// Package enginetest provides a platform for engine tests that records every call instead
// of talking to a real platform, and helpers to set up governed communities.
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
	Method   string // execute, revert, post, notify, open_ballot, update_ballot, close_ballot, set_up, tear_down, receive
	ActionID int64
	Type     string
	Text     string
	Members  []int64
	Attempt  int
	Key      string // receive: the delivery's key; set_up, tear_down: the connection's external id
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
	// OnReceive processes inbox deliveries (Receive); nil accepts them doing nothing. Set it
	// before the inbox runs.
	OnReceive func(ctx context.Context, d models.InboundDelivery) error
	// OnCall, when set, runs at every recorded delivery call before it returns (a test can
	// make it stall, as a platform that hangs). Set it before deliveries run.
	OnCall func(c Call)
	// LinkKeys are the long-lived links the platform asks the runtime to keep (Links); each
	// runs RunLink. Set them before the runtime starts.
	LinkKeys []string
	RunLink  func(ctx context.Context, key string) error
}

// NewPlatform returns an empty recording platform.
func NewPlatform() *Platform { return &Platform{applied: map[int64]int{}} }

// Name implements engine.Platform.
func (p *Platform) Name() string { return "test" }

// Info implements engine.Platform.
func (p *Platform) Info() engine.PlatformInfo {
	return engine.PlatformInfo{Label: "Test platform", Space: "space", Connect: engine.ConnectOAuth, ConnectLabel: "Connect the test platform",
		SignIn: true, About: "Posts and renames in the space are governed."}
}

// SetUp implements engine.Platform.
func (p *Platform) SetUp(_ context.Context, conn *models.PlatformConnection) error {
	return p.record(engine.Call{}, "set_up", conn.ExternalID, nil)
}

// TearDown implements engine.Platform.
func (p *Platform) TearDown(_ context.Context, conn *models.PlatformConnection) error {
	return p.record(engine.Call{}, "tear_down", conn.ExternalID, nil)
}

// Receive implements engine.Platform: it records the delivery; OnReceive, when set, decides
// what processing it does.
func (p *Platform) Receive(ctx context.Context, d models.InboundDelivery) error {
	p.mu.Lock()
	p.calls = append(p.calls, Call{Method: "receive", Key: d.Key, Text: d.Body, Attempt: d.Attempts})
	on := p.OnReceive
	p.mu.Unlock()
	if on != nil {
		return on(ctx, d)
	}
	return nil
}

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
	var err error
	if len(p.failures) > 0 {
		err = p.failures[0]
		p.failures = p.failures[1:]
	}
	on := p.OnCall
	p.mu.Unlock()
	if on != nil {
		on(call)
	}
	p.mu.Lock()
	return err
}

// Links implements engine.LinkHolder.
func (p *Platform) Links(context.Context) ([]engine.Link, error) {
	out := make([]engine.Link, len(p.LinkKeys))
	for i, key := range p.LinkKeys {
		out[i] = engine.Link{Key: key, Run: func(ctx context.Context) error { return p.RunLink(ctx, key) }}
	}
	return out, nil
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
