package engine_test

import (
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
)

// TestHostileProgramsStayWithinBudget runs the hardening issue's attacks, and others of the
// same families, as a member would through the builder's Try it: each is refused when it
// is checked or stopped while it runs, within the budgets (loosely measured here: the
// precise budgets are counted, these only catch a run that escaped them).
func TestHostileProgramsStayWithinBudget(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Hostile", engine.KitEverythingPasses, 1000)
	tests := []struct {
		name, filter string
		refused      string // a compile error mentioning this, or "" when it runs and is stopped
	}{
		{"nested sums (the issue's probe)", `let r = 1..200; sum(r, sum(r, sum(r, sum(r, 1)))) > 0`, "nested 4 deep"},
		{"nested sums three deep", `let r = 1..1000; sum(r, sum(r, sum(r, 1))) > 0`, ""},
		{"doubling text (the issue's probe)", `len(reduce(1..16, #acc + #acc, repeat("a", 100000))) > 0`, ""},
		{"doubling text with lets", `let s = repeat("a", 1000000); let t = s+s; let u = t+t; let v = u+u; let w = v+v; let x = w+w; len(x+x) > 0`, ""},
		{"repeat of a repeat", `len(repeat(repeat("a", 1000000), 1000000)) > 0`, ""},
		{"join with a long glue", `len(join(map(1..100000, "x"), repeat("y", 100000))) > 0`, ""},
		{"replace everywhere", `len(replace(repeat("a", 100000), "", repeat("b", 1000))) > 0`, ""},
		{"split into letters", `len(split(repeat("a", 1000000), "")) > 0`, ""},
		{"shared lists written out", `let a = 1..1000; let b = [a,a,a,a,a,a,a,a,a,a]; let c = [b,b,b,b,b,b,b,b,b,b]; let d = [c,c,c,c,c,c,c,c,c,c]; len(toJSON([d,d,d,d,d,d,d,d,d,d])) > 0`, ""},
		{"membership in a loop", `len(filter(members(), # in members())) > 0`, ""},
		{"votes counted in a loop", `len(filter(members(), yes() > 0 || voters() >= 0)) > 0`, ""},
		{"a range built from a variable", `let n = 1000000000; len(1..n) > 0`, ""},
		{"a literal range too large", `len(1..100000000) > 0`, "more than"},
		{"a long busy loop", `all(1..1000, all(1..1000, # > 0))`, ""},
	}
	draft := func(filter string) engine.Draft {
		return engine.Draft{Policy: models.PolicyFields{Kind: "platform", Name: "Hostile", Mode: models.ModeEnforce, Active: true,
			ActionTypes: []string{"test.post_message"}, FilterSrc: filter}}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.refused != "" {
				err := engine.CheckPolicy(engine.Sources{Filter: tt.filter})
				if msg := models.FieldErrors(err)["filter"]; !strings.Contains(msg, tt.refused) {
					t.Fatalf("compile error %q (%v), want it to mention %q", msg, err, tt.refused)
				}
				return
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := processCPU()
			steps, err := env.Engine.TryIt(ctx, c.ID, draft(tt.filter), engine.TryInput{ActionType: "test.post_message",
				Initiator: m[1], Params: map[string]any{"channel": "C1", "text": "hi"}})
			elapsed := processCPU() - start
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) == 0 || steps[0].ErrorKind != engine.ErrorKindBudget {
				t.Fatalf("steps %+v: want the filter stopped with an over-budget error", steps)
			}
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s: stopped after %s of CPU, %d KiB allocated: %s", tt.name, elapsed.Round(time.Millisecond), allocated>>10, steps[0].Error)
			// The budgets are 50 ms and 16 MB. CPU time, not wall time: a loaded machine
			// stretches the latter; the garbage collector and the database add to the former.
			if elapsed > 500*time.Millisecond || allocated > 64<<20 {
				t.Errorf("used %s of CPU and allocated %d MiB: outside the budget", elapsed, allocated>>20)
			}
		})
	}
}

// TestWhatAPolicyStoresIsBounded: the probe stored 12 MB on one proposal and 12 MB
// more in its audit event; a policy's memory and the messages it records are now bounded,
// with an error that names the limit, and nothing large is written.
func TestWhatAPolicyStoresIsBounded(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"memory (the issue's probe)", map[string]any{"initialize": `let s = repeat("a", 60000); len(map(1..200, set(string(#), s))) > 0`}, "more than the 256 KiB allowed"},
		{"one value", map[string]any{"initialize": `set("big", repeat("a", 70000))`}, "64 KiB"},
		{"messages", map[string]any{"notify": `len(map(1..100, notify(members(), repeat("x", 5000)))) > 0`,
			"check": "PENDING"}, "more than 256 KiB of messages"},
		{"ballot options", map[string]any{"notify": `start_vote("choice", {options: map(1..2000, string(#))})`, "check": "PENDING"}, "at most 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := enginetest.New(t)
			c, m := env.Community(t, "Storage", engine.KitEverythingPasses, 3)
			params := map[string]any{"kind": "platform", "name": "Hoarder", "priority": 1, "action_types": []any{"test.post_message"}}
			for k, v := range tt.params {
				params[k] = v
			}
			addPolicy(t, env, c, m[0], params)
			res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: m[1], Origin: models.OriginPlatform,
				Params: map[string]any{"channel": "x", "text": "y"}})
			if p := res.Proposal; p.Status != models.StatusPending || !strings.Contains(p.Error, tt.want) {
				t.Fatalf("proposal %s, error %q: want it pending with an error mentioning %q", p.Status, p.Error, tt.want)
			}
			var largest int64
			if err := env.Store.DB().Table("audit_events").Select("COALESCE(MAX(LENGTH(payload)), 0)").Scan(&largest).Error; err != nil {
				t.Fatal(err)
			}
			var data int64
			if err := env.Store.DB().Table("proposals").Select("COALESCE(MAX(LENGTH(data)), 0)").Scan(&data).Error; err != nil {
				t.Fatal(err)
			}
			if largest > 300<<10 || data > 300<<10 {
				t.Fatalf("stored an audit event of %d bytes and proposal data of %d bytes", largest, data)
			}
		})
	}
}

// TestRequestBudget: the policies deciding one action share one budget inside the deciding
// transaction (maxRequestEval): five costly filters of policies that do not govern the
// action cannot hold it for five times a stage's budget.
func TestRequestBudget(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Filters", engine.KitEverythingPasses, 3)
	for i := range 5 {
		addPolicy(t, env, c, m[0], map[string]any{"kind": "platform", "name": fmt.Sprintf("Costly filter %d", i), "priority": i + 1,
			"action_types": []any{"test.post_message"}, "filter": "!" + costlyLoop(390_000)})
	}
	res := submit(t, env, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: m[1], Origin: models.OriginPlatform,
		Params: map[string]any{"channel": "x", "text": "y"}})
	if p := res.Proposal; p == nil || p.ErrorKind != engine.ErrorKindBudget || !strings.Contains(p.Error, "together") {
		t.Fatalf("proposal %+v: want an over-budget error for the request", p)
	}
}

// processCPU is the CPU time this process has used (the test's, the database driver's, the
// garbage collector's).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// costlyLoop is a loop of about the given number of steps, a tenth of it under the race
// detector (which slows programs about tenfold): it costs about the same time either way.
func costlyLoop(steps int) string {
	if raceEnabled {
		steps /= 10
	}
	return fmt.Sprintf("all(1..%d, all(1..100, # > 0))", steps/300)
}
