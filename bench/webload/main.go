// Command webload measures page latency under load: it seeds a community with many members
// and proposals (set-wise, in bulk), serves the real router on loopback, and requests the
// proposals list and proposal pages at a fixed rate (open loop: a slow answer does not slow
// the arrivals), then reports p50, p99 and max per page.
//
//	go run ./bench/webload -proposals 100000 -members 1000 -rate 200 -duration 30s
//	go run ./bench/webload -db 'postgres://postgres@127.0.0.1:5432/bench?sslmode=disable'
//
// Without -db it uses a new SQLite file in a temporary folder. It only ever talks to the
// server it started on 127.0.0.1, and stops after -duration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"policykit/engine"
	"policykit/handlers"
	"policykit/models"
	"policykit/static"
	"policykit/templates"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "webload:", err)
		os.Exit(1)
	}
}

type options struct {
	dsn       string
	proposals int
	members   int
	rate      int
	duration  time.Duration
}

func run() error {
	var o options
	flag.StringVar(&o.dsn, "db", "", "database: a postgres:// URL (its tables must not exist yet) or a SQLite path; default a temporary SQLite file")
	flag.IntVar(&o.proposals, "proposals", 100_000, "proposals to seed")
	flag.IntVar(&o.members, "members", 1_000, "members to seed")
	flag.IntVar(&o.rate, "rate", 200, "requests per second")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "how long to send requests")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the load phase to this file")
	flag.Parse()
	if o.rate < 1 || o.rate > 2000 || o.duration > 10*time.Minute {
		return errors.New("keep -rate within 1..2000 and -duration within 10m")
	}
	ctx := context.Background()
	if o.dsn == "" {
		dir, err := os.MkdirTemp("", "webload")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.dsn = filepath.Join(dir, "bench.db")
	}
	store, err := models.Open(ctx, o.dsn, []byte("webload-secret-key-0123456789"))
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := store.Migrate(ctx); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(store, engine.Options{Log: log})
	if err != nil {
		return err
	}
	start := time.Now()
	s, err := reuse(ctx, store)
	if err == nil {
		fmt.Printf("database: %s; reusing %d seeded proposals\n", store.Dialect(), len(s.proposalIDs))
	} else {
		if s, err = seed(ctx, store, eng, o); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		fmt.Printf("database: %s; seeded %d members and %d proposals in %s\n", store.Dialect(), o.members, o.proposals, time.Since(start).Round(time.Millisecond))
	}

	gin.SetMode(gin.ReleaseMode)
	h, err := handlers.New(handlers.Config{BaseURL: "http://127.0.0.1", Version: "bench"}, handlers.Deps{
		Engine: eng, Store: store, Log: log, Templates: templates.FS, Static: static.FS, Registry: prometheus.NewRegistry()})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h.Router(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown below
	defer srv.Shutdown(context.Background())
	base := "http://" + ln.Addr().String()

	token, err := store.CreateSession(ctx, s.accountID)
	if err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	results := drive(base, token, s, o)
	fmt.Printf("%d requests/s for %s (open loop)\n", o.rate, o.duration)
	fmt.Printf("%-28s %8s %8s %9s %9s %9s %7s\n", "page", "requests", "errors", "p50", "p99", "max", "target")
	ok := true
	for _, name := range []string{"proposals list", "proposals list (filtered)", "proposals list (deep page)", "proposal page", "all"} {
		r := results[name]
		p50, p99, mx := r.quantile(0.50), r.quantile(0.99), r.quantile(1)
		verdict := "ok"
		if p99 >= 50*time.Millisecond || r.errors > 0 {
			verdict, ok = "MISSED", false
		}
		fmt.Printf("%-28s %8d %8d %9s %9s %9s %7s\n", name, len(r.lat), r.errors, ms(p50), ms(p99), ms(mx), verdict)
	}
	if r := results["all"]; r.first != "" {
		fmt.Println("first error:", r.first)
	}
	if !ok {
		return errors.New("p99 at or above 50 ms, or errors")
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// seeded is what the seeder made that requests need.
type seeded struct {
	accountID   int64
	slug        string
	policyID    int64
	proposalIDs []int64 // every proposal
	ballotIDs   []int64 // proposals with a ballot of every member and many votes
}

// reuse reads what an earlier run seeded into the same database (-db), so runs can repeat
// without seeding again.
func reuse(ctx context.Context, store *models.Store) (*seeded, error) {
	acct, err := store.AccountByEmail(ctx, "bench@example.org")
	if err != nil {
		return nil, err
	}
	c, err := store.CommunityBySlug(ctx, "bench")
	if err != nil {
		return nil, err
	}
	pol, err := store.PolicyByName(ctx, c.ID, "Majority of members")
	if err != nil {
		return nil, err
	}
	s := &seeded{accountID: acct.ID, slug: c.Slug, policyID: pol.ID}
	db := store.DB().WithContext(ctx).Model(&models.Proposal{}).Where("community_id = ?", c.ID).Order("id")
	if err := db.Pluck("id", &s.proposalIDs).Error; err != nil {
		return nil, err
	}
	if err := db.Where("status = ?", models.StatusPending).Pluck("id", &s.ballotIDs).Error; err != nil {
		return nil, err
	}
	if len(s.ballotIDs) == 0 {
		return nil, errors.New("no seeded proposals")
	}
	return s, nil
}

// seed creates a community with the democracy kit, then members, actions, proposals, votes
// and audit events in bulk inserts of 1000 rows.
func seed(ctx context.Context, store *models.Store, eng *engine.Engine, o options) (*seeded, error) {
	acct, err := store.CreateAccount(ctx, models.NewAccount{Email: "bench@example.org", Name: "Bench Owner", Password: "bench password"})
	if err != nil {
		return nil, err
	}
	c, owner, err := eng.CreateCommunity(ctx, models.NewCommunity{Name: "Bench"}, acct, engine.KitDemocracy)
	if err != nil {
		return nil, err
	}
	var s *seeded
	// One transaction: bulk inserts then cost one commit, not one per batch.
	err = store.Tx(ctx, func(tx *models.Store) error {
		var err error
		s, err = seedRows(ctx, tx, o, acct, c, owner)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, store.DB().WithContext(ctx).Exec("ANALYZE").Error
}

func seedRows(ctx context.Context, store *models.Store, o options, acct *models.Account, c *models.Community, owner *models.Member) (*seeded, error) {
	db := store.DB().WithContext(ctx)
	now := time.Now().UTC()
	members := make([]models.Member, 0, o.members-1)
	for i := 1; i < o.members; i++ {
		members = append(members, models.Member{CommunityID: c.ID, DisplayName: fmt.Sprintf("Member %04d", i), CreatedAt: now})
	}
	if err := db.CreateInBatches(&members, 1000).Error; err != nil {
		return nil, err
	}
	base, err := store.BaseRole(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	ids := []int64{owner.ID}
	links := make([]models.MemberRole, 0, len(members))
	for _, m := range members {
		ids = append(ids, m.ID)
		links = append(links, models.MemberRole{MemberID: m.ID, RoleID: base.ID})
	}
	if err := db.CreateInBatches(&links, 1000).Error; err != nil {
		return nil, err
	}
	pol, err := store.PolicyByName(ctx, c.ID, "Majority of members")
	if err != nil {
		return nil, err
	}
	s := &seeded{accountID: acct.ID, slug: c.Slug, policyID: pol.ID}
	rng := rand.New(rand.NewPCG(1, 2))
	const batch = 1000
	// The newest proposals are pending with a ballot of every member (the heaviest page);
	// older ones are decided with a small ballot, as a jury's would be.
	fullBallots := min(2000, o.proposals)
	for done := 0; done < o.proposals; done += batch {
		n := min(batch, o.proposals-done)
		actions := make([]models.Action, n)
		at := now.Add(-time.Duration(o.proposals-done) * time.Minute)
		for i := range actions {
			init := ids[rng.IntN(len(ids))]
			actions[i] = models.Action{CommunityID: c.ID, Type: engine.TypeAddDocument, Kind: models.KindConstitution,
				Platform: engine.ConstitutionPlatform, InitiatorID: &init, Origin: models.OriginWeb, Status: models.StatusFailed,
				Params:       map[string]any{"title": fmt.Sprintf("Document %d", done+i), "body": "Seeded for the benchmark."},
				ExternalRefs: map[string]string{}, CreatedAt: at, UpdatedAt: at}
		}
		if err := db.Create(&actions).Error; err != nil {
			return nil, err
		}
		ps := make([]models.Proposal, n)
		for i := range ps {
			full := done+i >= o.proposals-fullBallots
			p := models.Proposal{CommunityID: c.ID, ActionID: actions[i].ID, PolicyID: &pol.ID, PolicyVersionID: *pol.VersionID,
				Status: models.StatusFailed, Data: map[string]any{}, Seed: rng.Int64(), Rule: pol.Rule, Notified: true,
				CreatedAt: at, UpdatedAt: at, DecidedAt: &at}
			eligible := []int64{ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]}
			if full {
				p.Status, p.DecidedAt, eligible = models.StatusPending, nil, ids
				actions[i].Status = models.StatusPending
			} else if rng.IntN(2) == 0 {
				p.Status = models.StatusPassed
			}
			p.Ballot = &models.Ballot{Kind: engine.BallotYesNo, Eligible: eligible, OpenedAt: at}
			ps[i] = p
		}
		if err := db.Create(&ps).Error; err != nil {
			return nil, err
		}
		events := make([]models.AuditEvent, 0, 2*n)
		for i, p := range ps {
			s.proposalIDs = append(s.proposalIDs, p.ID)
			if p.Status == models.StatusPending {
				s.ballotIDs = append(s.ballotIDs, p.ID)
			}
			seq := int64(2*(done+i)) + 1000
			events = append(events,
				models.AuditEvent{CommunityID: c.ID, Seq: seq, Kind: "action.received", ActionID: &actions[i].ID, MemberID: actions[i].InitiatorID,
					Payload: `{"origin":"web","type":"constitution.add_document"}`, PrevHash: "seed", Hash: "seed", CreatedAt: at},
				models.AuditEvent{CommunityID: c.ID, Seq: seq + 1, Kind: "proposal.created", ProposalID: &ps[i].ID, ActionID: &actions[i].ID,
					Payload: `{"policy":"Majority of members","version":1}`, PrevHash: "seed", Hash: "seed", CreatedAt: at})
		}
		if err := db.Create(&events).Error; err != nil {
			return nil, err
		}
	}
	// Half the members have voted on each full ballot of the newest 50 proposals.
	for _, pid := range s.ballotIDs[max(0, len(s.ballotIDs)-50):] {
		vs := make([]models.Vote, 0, len(ids)/2)
		for _, m := range ids[:len(ids)/2] {
			vs = append(vs, models.Vote{CommunityID: c.ID, ProposalID: pid, MemberID: m, Value: `"yes"`, Via: "web", CreatedAt: now, UpdatedAt: now})
		}
		if err := db.CreateInBatches(&vs, 1000).Error; err != nil {
			return nil, err
		}
	}
	return s, nil
}

// series is the latencies of one page.
type series struct {
	lat    []time.Duration
	errors int
	first  string // the first error, to say what went wrong
}

func (s *series) quantile(q float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	i := int(q*float64(len(s.lat))+0.5) - 1
	return s.lat[max(0, min(i, len(s.lat)-1))]
}

// drive sends requests at a fixed rate for the duration, spreading them over the pages.
func drive(base, session string, s *seeded, o options) map[string]*series {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	rng := rand.New(rand.NewPCG(3, 4))
	type req struct{ name, path string }
	next := func() req {
		prefix := "/c/" + s.slug
		switch rng.IntN(6) {
		case 0, 1:
			return req{"proposals list", prefix + "/proposals"}
		case 2:
			status := []string{"pending", "passed", "failed"}[rng.IntN(3)]
			return req{"proposals list (filtered)", fmt.Sprintf("%s/proposals?status=%s&policy=%d", prefix, status, s.policyID)}
		case 3:
			before := s.proposalIDs[rng.IntN(len(s.proposalIDs))]
			return req{"proposals list (deep page)", fmt.Sprintf("%s/proposals?before=%d", prefix, before)}
		default:
			id := s.ballotIDs[rng.IntN(len(s.ballotIDs))]
			if rng.IntN(2) == 0 {
				id = s.proposalIDs[rng.IntN(len(s.proposalIDs))]
			}
			return req{"proposal page", fmt.Sprintf("%s/proposals/%d", prefix, id)}
		}
	}
	var mu sync.Mutex
	out := map[string]*series{}
	record := func(name string, d time.Duration, failure string) {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range []string{name, "all"} {
			if out[k] == nil {
				out[k] = &series{}
			}
			if failure != "" {
				out[k].errors++
				if out[k].first == "" {
					out[k].first = failure
				}
			} else {
				out[k].lat = append(out[k].lat, d)
			}
		}
	}
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(o.rate)
	deadline := time.Now().Add(o.duration)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for now := range tick.C {
		if now.After(deadline) {
			break
		}
		r := next()
		wg.Add(1)
		go func() {
			defer wg.Done()
			hr, _ := http.NewRequest(http.MethodGet, base+r.path, nil)
			hr.AddCookie(&http.Cookie{Name: "pk_session", Value: session})
			t0 := time.Now()
			resp, err := client.Do(hr)
			failure := ""
			if err != nil {
				failure = err.Error()
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failure = fmt.Sprintf("GET %s: %s", r.path, resp.Status)
				}
			}
			record(r.name, time.Since(t0), failure)
		}()
	}
	wg.Wait()
	for _, s := range out {
		sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	}
	return out
}
