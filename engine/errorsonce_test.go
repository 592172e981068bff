package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
)

// pendingUnder adds a platform policy with the given check and submits n actions it governs.
func pendingUnder(t *testing.T, env *enginetest.Env, check string, n int) (*models.Community, []*models.Proposal) {
	t.Helper()
	c, m := env.Community(t, fmt.Sprintf("Broken %d", time.Now().UnixNano()), engine.KitEverythingPasses, 3)
	addPolicy(t, env, c, m[0], map[string]any{"kind": "platform", "name": "Costly", "priority": 1,
		"action_types": []any{"test.post_message"}, "check": check})
	var ps []*models.Proposal
	for range n {
		res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: m[1],
			Origin: models.OriginPlatform, Params: map[string]any{"channel": "x", "text": "y"}})
		ps = append(ps, res.Proposal)
	}
	return c, ps
}

func auditCount(t *testing.T, env *enginetest.Env, kind string) int64 {
	t.Helper()
	var n int64
	if err := env.Store.DB().Table("audit_events").Where("kind = ?", kind).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSameErrorIsWrittenOnce: a check whose error text changes with the time (the issue saw
// the proposal rewritten on every pass) is written once; later passes compare its kind.
func TestSameErrorIsWrittenOnce(t *testing.T) {
	env := enginetest.New(t)
	c, ps := pendingUnder(t, env, `int(string(now)) > 0 ? PASSED : PENDING`, 1)
	if ps[0].Error == "" || ps[0].ErrorKind != engine.ErrorKindRuntime {
		t.Fatalf("proposal error %q (%s)", ps[0].Error, ps[0].ErrorKind)
	}
	first, _ := reload(t, env, c, ps[0].ID)
	errorsBefore := auditCount(t, env, "stage.error")
	for range 3 {
		env.Clock.Advance(7 * time.Second)
		stats, err := env.Engine.CheckPending(ctx)
		if err != nil || stats.Errors != 1 {
			t.Fatalf("pass %+v, %v", stats, err)
		}
	}
	p, _ := reload(t, env, c, ps[0].ID)
	if !p.UpdatedAt.Equal(first.UpdatedAt) || p.Error != first.Error {
		t.Fatalf("the proposal was rewritten: updated %s → %s, error %q → %q", first.UpdatedAt, p.UpdatedAt, first.Error, p.Error)
	}
	if n := auditCount(t, env, "stage.error"); n != errorsBefore {
		t.Fatalf("%d more stage.error events", n-errorsBefore)
	}
	pol, _ := env.Store.PolicyByName(ctx, c.ID, "Costly")
	if pol.LastError == "" {
		t.Fatal("the policy is not flagged with its error")
	}
}

// TestOverBudgetPolicyWaitsForItsRetry: a proposal whose check goes over budget is not
// evaluated again on the next passes (its whole budget each time), only after a minute,
// then two…; a vote still re-checks it at once.
func TestOverBudgetPolicyWaitsForItsRetry(t *testing.T) {
	env := enginetest.New(t)
	_, _ = pendingUnder(t, env, `all(1..1000, all(1..1000, # > 0)) ? PASSED : PENDING`, 1)
	pass := func() engine.PassStats {
		t.Helper()
		stats, err := env.Engine.CheckPending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return stats
	}
	if s := pass(); s.Errors != 1 || s.Deferred != 0 {
		t.Fatalf("first pass %+v: want the proposal evaluated, over budget", s)
	}
	env.Clock.Advance(5 * time.Second)
	if s := pass(); s.Deferred != 1 {
		t.Fatalf("next pass %+v: want it deferred", s)
	}
	env.Clock.Advance(time.Minute)
	if s := pass(); s.Deferred != 0 || s.Errors != 1 {
		t.Fatalf("a minute later %+v: want it evaluated again", s)
	}
	env.Clock.Advance(time.Minute) // the wait doubled: 2 minutes now
	if s := pass(); s.Deferred != 1 {
		t.Fatalf("one minute after the second try %+v: want it still deferred", s)
	}
}

// TestStopDoesNotWaitForAPass: shutting down during a check pass over proposals whose policy
// is slow (within budget) stops between two evaluations; the server waited 21 s.
// Many communities, so that their shares of the pass (passBudget each) add up to seconds.
func TestStopDoesNotWaitForAPass(t *testing.T) {
	env := enginetest.New(t)
	for range 25 {
		// about 300,000 steps: within budget, but tens of milliseconds each
		_, ps := pendingUnder(t, env, costlyLoop(300_000)+" ? PENDING : PENDING", 5)
		if ps[0].Error != "" {
			t.Fatalf("the check must stay within budget: %s", ps[0].Error)
		}
	}
	rt, err := engine.NewRuntime(env.Engine, engine.RuntimeOptions{Registry: prometheus.NewRegistry(),
		CheckInterval: time.Second, DeliverInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the first pass starts after a second; it needs several
	start := time.Now()
	if err := rt.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Stop waited %s for the check pass", d)
	}
}
