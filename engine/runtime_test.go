package engine_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
	"policykit/models/modelstest"
)

// proposeMessage proposes a platform action on the website; it needs execution on pass.
func proposeMessage(t *testing.T, env *enginetest.Env, c *models.Community, by int64) *engine.Result {
	t.Helper()
	return submit(t, env, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: by, Origin: models.OriginWeb,
		Params: map[string]any{"channel": "C1", "text": "from the website"}})
}

func effectOf(t *testing.T, env *enginetest.Env, actionID int64, kind string) models.Effect {
	t.Helper()
	var e models.Effect
	if err := env.Store.DB().Where("action_id = ? AND kind = ?", actionID, kind).First(&e).Error; err != nil {
		t.Fatalf("effect %s of action %d: %v", kind, actionID, err)
	}
	return e
}

func TestTimeoutFiresOnTheInjectedClock(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Clock", engine.KitJury, 5)
	res := submit(t, env, rename(c, m[1]))
	rt, err := engine.NewRuntime(env.Engine, engine.RuntimeOptions{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(47 * time.Hour)
	rt.CheckOnce(ctx)
	if p, _ := reload(t, env, c, res.Proposal.ID); p.Status != models.StatusPending {
		t.Fatalf("decided before the 2-day timeout: %s", p.Status)
	}
	env.Clock.Advance(90 * time.Minute)
	rt.CheckOnce(ctx)
	if p, _ := reload(t, env, c, res.Proposal.ID); p.Status != models.StatusFailed {
		t.Fatalf("after the timeout: %s", p.Status)
	}
	if s := rt.Status(); s.Passes != 2 || s.LastPass.Checked != 1 || s.LastPass.Decided != 1 {
		t.Fatalf("status = %+v", s)
	}
}

func TestEffectsOfAnActionAreDeliveredInOrder(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Order", engine.KitJury, 5)
	res := submit(t, env, rename(c, m[1]))
	jury := toInt64s(res.Proposal.Data["jury"])
	vote(t, env, c, res.Proposal, jury[0], "yes")
	vote(t, env, c, res.Proposal, jury[1], "yes")
	if _, err := env.Engine.DeliverDue(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, call := range env.Platform.Calls("") {
		if call.ActionID == res.Action.ID && (call.Method == "revert" || call.Method == "execute") {
			order = append(order, call.Method)
		}
	}
	if len(order) != 2 || order[0] != "revert" || order[1] != "execute" {
		t.Fatalf("revert and execute delivered as %v", order)
	}
	_, a := reload(t, env, c, res.Proposal.ID)
	if a.Status != models.StatusExecuted {
		t.Fatalf("action after delivery: %s", a.Status)
	}
}

// TestCrashAfterThePlatformCall: a worker calls the platform, then dies before recording
// success. After its lease expires another worker takes the effect over; the platform
// reconciles, so the action is carried out exactly once.
func TestCrashAfterThePlatformCall(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Crash", engine.KitEverythingPasses, 2)
	res := proposeMessage(t, env, c, m[1])
	now := env.Clock.Now()
	claimed, err := env.Store.ClaimEffects(ctx, "dead-worker", now, now.Add(time.Minute), 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if _, err := env.Platform.Execute(ctx, engine.Call{Effect: claimed[0], Action: res.Action}); err != nil {
		t.Fatal(err)
	}
	// The dead worker never records success. Nobody else may take the effect during its lease.
	if st, _ := env.Engine.DeliverDue(ctx, "new-worker"); st.Delivered != 0 {
		t.Fatalf("an effect under lease was delivered again: %+v", st)
	}
	env.Clock.Advance(2 * time.Minute)
	st, err := env.Engine.DeliverDue(ctx, "new-worker")
	if err != nil || st.Delivered != 1 {
		t.Fatalf("after the lease: %+v %v", st, err)
	}
	ef := effectOf(t, env, res.Action.ID, "execute")
	if ef.Status != models.EffectDone || ef.Attempts != 2 {
		t.Fatalf("effect = %s after %d attempts", ef.Status, ef.Attempts)
	}
	calls := env.Platform.Calls("execute")
	if len(calls) != 2 || calls[1].Attempt != 2 || env.Platform.Applied(res.Action.ID) != 1 {
		t.Fatalf("platform saw %d calls (second attempt %d), applied %d times", len(calls), calls[len(calls)-1].Attempt, env.Platform.Applied(res.Action.ID))
	}
}

func TestOutageIsRetriedWithBackoffAndDeliveredOnce(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Outage", engine.KitEverythingPasses, 2)
	res := proposeMessage(t, env, c, m[1])
	env.Platform.FailNext(enginetest.ErrOutage, enginetest.ErrOutage, enginetest.ErrOutage, enginetest.ErrOutage, enginetest.ErrOutage)
	var lastNext time.Time
	for i := 0; i < 5; i++ {
		st, err := env.Engine.DeliverDue(ctx, "w")
		if err != nil || st.Rescheduled != 1 {
			t.Fatalf("attempt %d: %+v %v", i+1, st, err)
		}
		ef := effectOf(t, env, res.Action.ID, "execute")
		if ef.Status != models.EffectPending || ef.Attempts != i+1 || !ef.NextAttemptAt.After(lastNext) {
			t.Fatalf("after failure %d: %s attempts %d next %s", i+1, ef.Status, ef.Attempts, ef.NextAttemptAt)
		}
		if st, _ := env.Engine.DeliverDue(ctx, "w"); st.Delivered+st.Rescheduled != 0 {
			t.Fatalf("retried before its backoff: %+v", st)
		}
		lastNext = ef.NextAttemptAt
		env.Clock.Advance(ef.NextAttemptAt.Sub(env.Clock.Now()))
	}
	st, err := env.Engine.DeliverDue(ctx, "w")
	if err != nil || st.Delivered != 1 {
		t.Fatalf("after the outage: %+v %v", st, err)
	}
	ef := effectOf(t, env, res.Action.ID, "execute")
	if ef.Status != models.EffectDone || ef.Attempts != 6 || env.Platform.Applied(res.Action.ID) != 1 {
		t.Fatalf("effect %s after %d attempts, applied %d", ef.Status, ef.Attempts, env.Platform.Applied(res.Action.ID))
	}
}

func TestRateLimitReschedulesWithoutBlocking(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Limited", engine.KitEverythingPasses, 2)
	res := proposeMessage(t, env, c, m[1])
	env.Platform.FailNext(&engine.RateLimitedError{RetryAfter: 30 * time.Second, Err: errors.New("429 Too Many Requests")})
	start := time.Now()
	st, err := env.Engine.DeliverDue(ctx, "w")
	if err != nil || st.Rescheduled != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("rate limited round: %+v %v in %s", st, err, time.Since(start))
	}
	ef := effectOf(t, env, res.Action.ID, "execute")
	if want := env.Clock.Now().Add(30 * time.Second); !ef.NextAttemptAt.Equal(want) || ef.Attempts != 0 {
		t.Fatalf("rescheduled to %s with %d attempts counted, want %s and 0", ef.NextAttemptAt, ef.Attempts, want)
	}
	env.Clock.Advance(29 * time.Second)
	if st, _ := env.Engine.DeliverDue(ctx, "w"); st.Delivered != 0 {
		t.Fatal("delivered before Retry-After")
	}
	env.Clock.Advance(time.Second)
	if st, _ := env.Engine.DeliverDue(ctx, "w"); st.Delivered != 1 {
		t.Fatalf("not delivered after Retry-After: %+v", st)
	}
}

func TestPermanentFailureShowsAndCanBeRetried(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Permanent", engine.KitEverythingPasses, 2)
	res := proposeMessage(t, env, c, m[1])
	env.Platform.FailNext(engine.Permanent(errors.New("channel_not_found")))
	if st, _ := env.Engine.DeliverDue(ctx, "w"); st.Failed != 1 {
		t.Fatalf("permanent failure: %+v", st)
	}
	ef := effectOf(t, env, res.Action.ID, "execute")
	if ef.Status != models.EffectFailed || ef.LastError == "" {
		t.Fatalf("effect = %+v", ef)
	}
	if err := env.Engine.RetryEffect(ctx, c.ID, ef.ID, m[0]); err != nil {
		t.Fatal(err)
	}
	if st, _ := env.Engine.DeliverDue(ctx, "w"); st.Delivered != 1 {
		t.Fatalf("retried effect not delivered: %+v", st)
	}
	other, _ := env.Community(t, "Else", engine.KitEverythingPasses, 1)
	if err := env.Engine.RetryEffect(ctx, other.ID, ef.ID, m[0]); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("retrying another community's effect: %v", err)
	}
}

func TestGracefulShutdownLeavesClaimsClaimable(t *testing.T) {
	env := enginetest.New(t)
	c, m := env.Community(t, "Shutdown", engine.KitEverythingPasses, 2)
	res := proposeMessage(t, env, c, m[1])
	rt, err := engine.NewRuntime(env.Engine, engine.RuntimeOptions{Instance: "leaving", Registry: prometheus.NewRegistry(), DeliverInterval: time.Hour, CheckInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// An effect claimed by this instance when it stops (in flight, say).
	now := env.Clock.Now()
	if claimed, err := env.Store.ClaimEffects(ctx, "leaving", now, now.Add(time.Hour), 10); err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rt.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if st, _ := env.Engine.DeliverDue(ctx, "next"); st.Delivered != 1 {
		t.Fatalf("the stopped instance's claim was not handed back: %+v", st)
	}
	if ef := effectOf(t, env, res.Action.ID, "execute"); ef.Attempts != 1 {
		t.Fatalf("attempts = %d, want 1 (the handed-back claim does not count)", ef.Attempts)
	}
}

// TestReplicasDecideAndDeliverOnce: three engines with their own connection pools race over
// 5,000 due proposals and their effects on one PostgreSQL.
func TestReplicasDecideAndDeliverOnce(t *testing.T) {
	if os.Getenv("TEST_DATABASE_URL") == "" {
		t.Skip("replicas share one PostgreSQL; SQLite is single-process (runs when TEST_DATABASE_URL is set)")
	}
	n := 5000
	if testing.Short() {
		n = 500
	}
	dsn := modelstest.DSN(t)
	first := openEngine(t, dsn)
	c, members := first.Community(t, "Replicas", engine.KitEverythingPasses, 3)
	addPolicy(t, first, c, members[0], map[string]any{"kind": "platform", "name": "One yes", "priority": 1,
		"action_types": []any{"test.post_message"}, "notify": `start_vote("yes_no")`, "check": `yes() >= 1 ? PASSED : PENDING`})
	start := time.Now()
	seedDue(t, first, c, members, n)
	t.Logf("seeded %d due proposals in %s", n, time.Since(start))
	start = time.Now()
	envs := []*enginetest.Env{first, openEngine(t, dsn), openEngine(t, dsn)}
	var wg sync.WaitGroup
	for i, env := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := env.Engine.CheckPending(ctx); err != nil {
				t.Errorf("replica %d check: %v", i, err)
			}
			if _, err := env.Engine.DeliverDue(ctx, string(rune('a'+i))); err != nil {
				t.Errorf("replica %d deliver: %v", i, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("three replicas decided and delivered in %s", time.Since(start))
	for _, env := range envs { // a last round picks up effects recorded after a replica finished
		if _, err := env.Engine.DeliverDue(ctx, "final"); err != nil {
			t.Fatal(err)
		}
	}
	var decided, dupDecisions int64
	db := first.Store.DB()
	db.Table("proposals").Joins("JOIN actions ON actions.id = proposals.action_id").
		Where("proposals.community_id = ? AND proposals.status = ? AND actions.type = ?", c.ID, models.StatusPassed, "test.post_message").Count(&decided)
	db.Raw(`SELECT COUNT(*) FROM (SELECT proposal_id FROM audit_events WHERE community_id = ? AND kind = 'proposal.decided'
		GROUP BY proposal_id HAVING COUNT(*) > 1) d`, c.ID).Scan(&dupDecisions)
	if decided != int64(n) || dupDecisions != 0 {
		t.Fatalf("decided %d of %d; %d proposals decided more than once", decided, n, dupDecisions)
	}
	executed := map[int64]int{}
	for _, env := range envs {
		for _, call := range env.Platform.Calls("execute") {
			executed[call.ActionID]++
		}
	}
	for id, k := range executed {
		if k != 1 {
			t.Fatalf("action %d executed %d times", id, k)
		}
	}
	if len(executed) != n {
		t.Fatalf("%d actions executed, want %d", len(executed), n)
	}
	if report, err := first.Engine.VerifyAudit(ctx, c.ID); err != nil || !report.ChainOK {
		t.Fatalf("audit chain after the race: %+v %v", report, err)
	}
}

func openEngine(t *testing.T, dsn string) *enginetest.Env {
	t.Helper()
	store, err := models.Open(ctx, dsn, modelstest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	p := enginetest.NewPlatform()
	e, err := engine.New(store, engine.Options{Platforms: []engine.Platform{p}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &enginetest.Env{Store: store, Engine: e, Platform: p, Clock: enginetest.NewClock()}
}

// seedDue proposes n website messages (pending under "One yes") and records a yes vote on
// each directly, so the next check pass decides all of them.
func seedDue(t *testing.T, env *enginetest.Env, c *models.Community, members []int64, n int) {
	t.Helper()
	var wg sync.WaitGroup
	jobs := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				res, err := env.Engine.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: members[1],
					Origin: models.OriginWeb, Params: map[string]any{"channel": "C1", "text": "from the website"}})
				if err != nil || res.Proposal == nil || res.Proposal.Status != models.StatusPending {
					t.Errorf("seed: %v", err)
					return
				}
				if err := env.Store.DB().Create(&models.Vote{CommunityID: c.ID, ProposalID: res.Proposal.ID, MemberID: members[0],
					Value: `"yes"`, Via: "web"}).Error; err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}
