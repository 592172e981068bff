package engine_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
)

// Benchmarks run on SQLite, or on PostgreSQL when TEST_DATABASE_URL is set:
//
//	go test -run '^$' -bench 'GovernAction|CheckPass' -benchmem ./engine/
//
// They report throughput with b.ReportMetric and the peak heap seen while running.

func benchGovern(b *testing.B, kit, typ string, params map[string]any) {
	env := enginetest.New(b)
	c, members := env.Community(b, "Bench", kit, 100)
	var i atomic.Int64
	peak := startPeakHeap()
	b.ReportAllocs()
	// A busy server governs many actions at once (webhooks arrive concurrently): 32
	// goroutines per CPU submit, so concurrent actions share commits (groupcommit.go).
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := i.Add(1)
			_, err := env.Engine.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: typ, Origin: models.OriginPlatform,
				InitiatorID: members[int(n)%len(members)], Params: params})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "actions/s")
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
}

// BenchmarkGovernActionPassAll: a platform action under a pass-everything policy.
func BenchmarkGovernActionPassAll(b *testing.B) {
	benchGovern(b, engine.KitEverythingPasses, "test.post_message", map[string]any{"channel": "C1", "text": "hello"})
}

// BenchmarkGovernActionJury: a rename that goes to a random jury of three (revert, draw,
// ballot, notification), in a community of 100 members.
func BenchmarkGovernActionJury(b *testing.B) {
	benchGovern(b, engine.KitJury, "test.rename_channel", map[string]any{"channel": "C1", "name": "x", "previous_name": "y"})
}

// BenchmarkCheckPass10k: one re-check pass over 10,000 pending proposals with 10 votes each.
func BenchmarkCheckPass10k(b *testing.B) { benchCheckPass(b, 10_000) }

func benchCheckPass(b *testing.B, n int) {
	env := enginetest.New(b)
	seedPending(b, env, n, 10)
	peak := startPeakHeap()
	b.ReportAllocs()
	b.ResetTimer()
	var checked int
	start := time.Now()
	for i := 0; i < b.N; i++ {
		stats, err := env.Engine.CheckPending(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if stats.Checked != n || stats.Decided != 0 {
			b.Fatalf("pass checked %d, decided %d; want %d, 0", stats.Checked, stats.Decided, n)
		}
		checked += stats.Checked
	}
	b.StopTimer()
	b.ReportMetric(float64(checked)/time.Since(start).Seconds(), "proposals/s")
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
}

// seedPending writes n pending proposals with votes each under a majority-of-members policy
// that none of them reaches, in bulk.
func seedPending(b *testing.B, env *enginetest.Env, n, votes int) {
	b.Helper()
	c, members := env.Community(b, "Pending", engine.KitDemocracy, 100)
	pol, err := env.Store.PolicyByName(ctx, c.ID, "Majority of members")
	if err != nil {
		b.Fatal(err)
	}
	now := env.Clock.Now()
	db := env.Store.DB()
	const chunk = 1000
	eligible := make([]int64, len(members))
	copy(eligible, members)
	for off := 0; off < n; off += chunk {
		m := min(chunk, n-off)
		actions := make([]models.Action, m)
		for i := range actions {
			actions[i] = models.Action{CommunityID: c.ID, Type: engine.TypeAddDocument, Kind: models.KindConstitution,
				Platform: engine.ConstitutionPlatform, InitiatorID: &members[i%len(members)], Origin: models.OriginWeb,
				Params: map[string]any{"title": fmt.Sprintf("Doc %d", off+i), "body": "x"}, ExternalRefs: map[string]string{},
				Status: models.StatusPending, CreatedAt: now, UpdatedAt: now}
		}
		if err := db.CreateInBatches(&actions, 500).Error; err != nil {
			b.Fatal(err)
		}
		ps := make([]models.Proposal, m)
		for i := range ps {
			ps[i] = models.Proposal{CommunityID: c.ID, ActionID: actions[i].ID, PolicyID: &pol.ID, PolicyVersionID: *pol.VersionID,
				Status: models.StatusPending, Data: map[string]any{}, Seed: int64(off + i), Notified: true,
				Ballot: &models.Ballot{Kind: engine.BallotYesNo, Eligible: eligible, OpenedAt: now}, CreatedAt: now, UpdatedAt: now}
		}
		if err := db.CreateInBatches(&ps, 500).Error; err != nil {
			b.Fatal(err)
		}
		vs := make([]models.Vote, 0, m*votes)
		for i := range ps {
			for j := 0; j < votes; j++ {
				vs = append(vs, models.Vote{CommunityID: c.ID, ProposalID: ps[i].ID, MemberID: members[j], Value: `"yes"`, Via: "web", CreatedAt: now, UpdatedAt: now})
			}
		}
		if err := db.CreateInBatches(&vs, 1000).Error; err != nil {
			b.Fatal(err)
		}
	}
	// A database that has grown to this size has planner statistics; a bulk load into fresh
	// tables has none until autovacuum comes by.
	if env.Store.Dialect() == models.DialectPostgres {
		if err := db.Exec("ANALYZE").Error; err != nil {
			b.Fatal(err)
		}
	}
}

// startPeakHeap samples the live heap until the returned function is called, which returns
// the highest value seen.
func startPeakHeap() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > peak.Load() {
			peak.Store(ms.HeapAlloc)
		}
	}
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 {
		close(done)
		sample()
		return peak.Load()
	}
}

// BenchmarkCheckPass100k: one re-check pass over 100,000 pending proposals with 10 votes
// each (seeding takes a minute or two; run it on its own).
func BenchmarkCheckPass100k(b *testing.B) { benchCheckPass(b, 100_000) }

// BenchmarkDeliverEffects: delivery of stored execute effects to the local recording
// platform, through claims, the platform call and the recorded outcome.
func BenchmarkDeliverEffects(b *testing.B) {
	env := enginetest.New(b)
	c, members := env.Community(b, "Deliver", engine.KitEverythingPasses, 10)
	var wg sync.WaitGroup
	jobs := make(chan struct{})
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if _, err := env.Engine.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: "test.post_message", InitiatorID: members[1],
					Origin: models.OriginWeb, Params: map[string]any{"channel": "C1", "text": "hi"}}); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	peak := startPeakHeap()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	st, err := env.Engine.DeliverDue(ctx, "bench")
	if err != nil || st.Delivered != b.N {
		b.Fatalf("delivered %d of %d: %v", st.Delivered, b.N, err)
	}
	b.StopTimer()
	b.ReportMetric(float64(st.Delivered)/time.Since(start).Seconds(), "effects/s")
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
}
