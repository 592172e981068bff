// Command stall measures how much one community's costly policies delay another community:
// the hardening issue's stall scenario. Community "Neighbours" has normal traffic at fixed
// rates (open loop): members vote, people sign in, actions are decided at once, and
// proposals with a two-second deadline are decided by the check loop, which runs every
// second. Phase one measures that alone; phase two adds community "Attackers", whose
// policy spends just under the step budget on every evaluation, with hundreds of pending
// proposals the check loop re-checks and goroutines voting and proposing there as fast as
// they can. It prints p50, p99 and max of each kind of request in both phases.
//
//	go run ./bench/stall -duration 20s
//	go run ./bench/stall -db 'postgres://postgres@127.0.0.1:5432/stall?sslmode=disable'
//
// Without -db it uses a new SQLite file in a temporary folder. It talks to no server and
// stops after two phases of -duration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"policykit/engine"
	"policykit/models"
)

// attackCheck evaluates in just under the step budget (engine/budget.go): the worst check a
// policy may have.
const attackCheck = `all(1..1000, all(1..125, # > 0)) ? PENDING : PENDING`

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "stall:", err)
		os.Exit(1)
	}
}

type options struct {
	dsn       string
	duration  time.Duration
	rate      int
	signins   int
	interval  time.Duration
	attackers int
	pending   int
}

func run() error {
	var o options
	flag.StringVar(&o.dsn, "db", "", "database: a postgres:// URL (its tables must not exist yet) or a SQLite path; default a temporary SQLite file")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "length of each phase")
	flag.IntVar(&o.rate, "rate", 10, "requests per second of each normal kind (vote, decision, deadline proposal)")
	flag.IntVar(&o.signins, "signins", 2, "sign-ins per second (each checks a bcrypt hash: tens of milliseconds of CPU)")
	flag.DurationVar(&o.interval, "interval", time.Second, "check loop interval (the server's default is 5s)")
	flag.IntVar(&o.attackers, "attackers", 8, "goroutines voting and proposing in the attacking community")
	flag.IntVar(&o.pending, "pending", 200, "pending proposals of the attacking community")
	flag.Parse()
	if o.rate < 1 || o.rate > 500 || o.signins < 1 || o.signins > 100 || o.duration > 5*time.Minute || o.attackers > 64 || o.pending > 5000 {
		return errors.New("keep -rate within 1..500, -duration within 5m, -attackers within 64, -pending within 5000")
	}
	ctx := context.Background()
	if o.dsn == "" {
		dir, err := os.MkdirTemp("", "stall")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.dsn = filepath.Join(dir, "stall.db")
	}
	store, err := models.Open(ctx, o.dsn, []byte("stall-bench-secret-key-0123456789"))
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := store.Migrate(ctx); err != nil {
		return err
	}
	eng, err := engine.New(store, engine.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	n, err := setupNeighbours(ctx, store, eng)
	if err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	fmt.Printf("database: %s\n", store.Dialect())
	base := measure(ctx, store, eng, n, o, nil)
	start := time.Now()
	a, err := setupAttackers(ctx, store, eng, o.pending)
	if err != nil {
		return fmt.Errorf("set up the attack: %w", err)
	}
	fmt.Printf("attacking community: %d pending proposals under a check of just under the step budget (set up in %s)\n",
		o.pending, time.Since(start).Round(time.Millisecond))
	attacked := measure(ctx, store, eng, n, o, a)
	fmt.Printf("\n%-22s %-9s %8s %7s %9s %9s %9s\n", "request", "phase", "count", "errors", "p50", "p99", "max")
	for _, kind := range kinds {
		for _, ph := range []struct {
			name string
			r    *results
		}{{"alone", base}, {"attacked", attacked}} {
			s := ph.r.of(kind)
			fmt.Printf("%-22s %-9s %8d %7d %9s %9s %9s\n", kind, ph.name, len(s.lat), s.errors, s.q(0.5), s.q(0.99), s.q(1))
		}
		for _, r := range []*results{base, attacked} {
			if e := r.of(kind).first; e != nil {
				fmt.Printf("%-22s first error: %v\n", kind, e)
			}
		}
		fmt.Printf("%-22s p99 delay added by the attack: %s\n", kind, (attacked.of(kind).q(0.99) - base.of(kind).q(0.99)).Round(100*time.Microsecond))
	}
	fmt.Printf("\nattack traffic: %d votes and %d proposals in the attacking community; check passes: %d alone, %d attacked\n",
		attacked.attackOps.Load(), attacked.attackProposals.Load(), base.passes.Load(), attacked.passes.Load())
	return nil
}

var kinds = []string{"vote", "sign-in", "decision", "deadline decision"}

// neighbours is the community with normal traffic.
type neighbours struct {
	community *models.Community
	members   []int64
	ballots   []int64 // proposals open for votes
	document  int64   // the document deadline proposals change
	email     string
}

const password = "correct horse battery staple"

func setupNeighbours(ctx context.Context, store *models.Store, eng *engine.Engine) (*neighbours, error) {
	owner, err := store.CreateAccount(ctx, models.NewAccount{Email: "owner@neighbours.example", Name: "Owner", Password: password})
	if err != nil {
		return nil, err
	}
	c, creator, err := eng.CreateCommunity(ctx, models.NewCommunity{Name: "Neighbours"}, owner, engine.KitEverythingPasses)
	if err != nil {
		return nil, err
	}
	n := &neighbours{community: c, members: []int64{creator.ID}, email: "owner@neighbours.example"}
	for i := 1; i < 100; i++ {
		m, err := store.AddMember(ctx, c.ID, fmt.Sprintf("Neighbour %d", i))
		if err != nil {
			return nil, err
		}
		n.members = append(n.members, m.ID)
	}
	// Votes: a ballot nobody can close (every vote re-checks it). Deadlines: two seconds.
	for _, p := range []map[string]any{
		{"kind": "constitution", "name": "Settings by vote", "priority": 1, "action_types": []any{engine.TypeChangeSettings},
			"notify": `start_vote("yes_no")`, "check": `voters() > 1000 ? PASSED : PENDING`},
		{"kind": "constitution", "name": "Documents after two seconds", "priority": 2, "action_types": []any{engine.TypeChangeDocument},
			"check": `proposal.age >= duration("2s") ? PASSED : PENDING`},
	} {
		if err := propose(ctx, eng, c.ID, creator.ID, engine.TypeAddPolicy, p); err != nil {
			return nil, err
		}
	}
	if err := propose(ctx, eng, c.ID, creator.ID, engine.TypeAddDocument, map[string]any{"title": "Rules", "body": "Be kind."}); err != nil {
		return nil, err
	}
	docs, err := store.Documents(ctx, c.ID)
	if err != nil || len(docs) != 1 {
		return nil, fmt.Errorf("the rules document: %v", err)
	}
	n.document = docs[0].ID
	for i := range 20 {
		res, err := eng.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: engine.TypeChangeSettings, InitiatorID: creator.ID,
			Origin: models.OriginWeb, Params: map[string]any{"name": fmt.Sprintf("Neighbours %d", i)}})
		if err != nil {
			return nil, err
		}
		n.ballots = append(n.ballots, res.Proposal.ID)
	}
	return n, nil
}

func propose(ctx context.Context, eng *engine.Engine, community, by int64, typ string, params map[string]any) error {
	res, err := eng.Submit(ctx, engine.Submission{CommunityID: community, Type: typ, InitiatorID: by, Origin: models.OriginWeb, Params: params})
	if err != nil {
		return err
	}
	if res.Action.Status != models.StatusExecuted {
		return fmt.Errorf("%s was not carried out: %s", typ, res.Action.Note)
	}
	return nil
}

// attackers is the community whose policy costs its whole budget on every evaluation.
type attackers struct {
	community *models.Community
	members   []int64
	pending   []int64
}

func setupAttackers(ctx context.Context, store *models.Store, eng *engine.Engine, pending int) (*attackers, error) {
	owner, err := store.CreateAccount(ctx, models.NewAccount{Email: "owner@attackers.example", Name: "Attacker", Password: password})
	if err != nil {
		return nil, err
	}
	c, creator, err := eng.CreateCommunity(ctx, models.NewCommunity{Name: "Attackers"}, owner, engine.KitEverythingPasses)
	if err != nil {
		return nil, err
	}
	a := &attackers{community: c, members: []int64{creator.ID}}
	for i := 1; i < 20; i++ {
		m, err := store.AddMember(ctx, c.ID, fmt.Sprintf("Attacker %d", i))
		if err != nil {
			return nil, err
		}
		a.members = append(a.members, m.ID)
	}
	if err := propose(ctx, eng, c.ID, creator.ID, engine.TypeAddPolicy, map[string]any{"kind": "constitution", "name": "Costly",
		"priority": 1, "action_types": []any{engine.TypeChangeSettings}, "notify": `start_vote("yes_no")`, "check": attackCheck}); err != nil {
		return nil, err
	}
	for i := range pending {
		res, err := eng.Submit(ctx, engine.Submission{CommunityID: c.ID, Type: engine.TypeChangeSettings, InitiatorID: creator.ID,
			Origin: models.OriginWeb, Params: map[string]any{"name": fmt.Sprintf("Attackers %d", i)}})
		if err != nil {
			return nil, err
		}
		a.pending = append(a.pending, res.Proposal.ID)
	}
	return a, nil
}

// results are the latencies of one phase.
type results struct {
	mu              sync.Mutex
	byKind          map[string]*series
	passes          atomic.Int64
	attackOps       atomic.Int64
	attackProposals atomic.Int64
}

type series struct {
	lat    []time.Duration
	errors int
	first  error
}

func (r *results) add(kind string, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.of(kind)
	if err != nil {
		if s.errors++; s.first == nil {
			s.first = err
		}
		return
	}
	s.lat = append(s.lat, d)
}

func (r *results) of(kind string) *series {
	if r.byKind[kind] == nil {
		r.byKind[kind] = &series{}
	}
	return r.byKind[kind]
}

func (s *series) q(f float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	return s.lat[min(len(s.lat)-1, int(f*float64(len(s.lat))))].Round(100 * time.Microsecond)
}

// measure runs one phase: the check loop pass after pass, the attack when a is set, and the
// neighbours' traffic at fixed rates; then it reads when the deadline proposals were decided.
func measure(ctx context.Context, store *models.Store, eng *engine.Engine, n *neighbours, o options, a *attackers) *results {
	r := &results{byKind: map[string]*series{}}
	bg := ctx // the neighbours' requests run to their end, even after the phase
	ctx, stop := context.WithTimeout(ctx, o.duration)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the check loop, every -interval (a pass that takes longer is followed at once)
		defer wg.Done()
		for ctx.Err() == nil {
			start := time.Now()
			if _, err := eng.CheckPending(ctx); err == nil {
				r.passes.Add(1)
			}
			select {
			case <-ctx.Done():
			case <-time.After(o.interval - time.Since(start)):
			}
		}
	}()
	if a != nil {
		for i := range o.attackers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; ctx.Err() == nil; k++ {
					m := a.members[(i+k)%len(a.members)]
					if k%4 == 3 {
						_, err := eng.Submit(ctx, engine.Submission{CommunityID: a.community.ID, Type: engine.TypeChangeSettings,
							InitiatorID: m, Origin: models.OriginWeb, Params: map[string]any{"name": fmt.Sprintf("Attack %d-%d", i, k)}})
						if err == nil {
							r.attackProposals.Add(1)
						}
						continue
					}
					value := []string{"yes", "no"}[k%2]
					if _, err := eng.CastVote(ctx, a.community.ID, a.pending[(i*31+k)%len(a.pending)], m, value, "api"); err == nil {
						r.attackOps.Add(1)
					}
				}
			}()
		}
	}
	var deadlines []int64
	var dmu sync.Mutex
	ops := map[string]func(k int) error{
		"vote": func(k int) error {
			_, err := eng.CastVote(bg, n.community.ID, n.ballots[k%len(n.ballots)], n.members[k%len(n.members)], []string{"yes", "no"}[k%2], "api")
			return err
		},
		"sign-in": func(int) error {
			acc, err := store.Authenticate(bg, n.email, password)
			if err != nil {
				return err
			}
			_, err = store.CreateSession(bg, acc.ID)
			return err
		},
		"decision": func(k int) error {
			res, err := eng.Submit(bg, engine.Submission{CommunityID: n.community.ID, Type: engine.TypeAddDocument, InitiatorID: n.members[0],
				Origin: models.OriginWeb, Params: map[string]any{"title": fmt.Sprintf("Note %d-%d", time.Now().UnixNano(), k), "body": "Decided at once."}})
			if err == nil && res.Action.Status != models.StatusExecuted {
				err = fmt.Errorf("not decided at once: %s", res.Action.Status)
			}
			return err
		},
		"deadline proposal": func(k int) error {
			res, err := eng.Submit(bg, engine.Submission{CommunityID: n.community.ID, Type: engine.TypeChangeDocument, InitiatorID: n.members[0],
				Origin: models.OriginWeb, Params: map[string]any{"document": n.document, "title": "Rules", "body": fmt.Sprintf("Version %d", k)}})
			if err == nil {
				dmu.Lock()
				deadlines = append(deadlines, res.Proposal.ID)
				dmu.Unlock()
			}
			return err
		},
	}
	end := time.Now().Add(o.duration - 3*time.Second) // deadline proposals need time to be decided
	for kind, op := range ops {
		wg.Add(1)
		go func() { // open loop: one request every 1/rate, whatever the answers take
			defer wg.Done()
			rate := o.rate
			if kind == "sign-in" {
				rate = o.signins
			}
			tick := time.NewTicker(time.Second / time.Duration(rate))
			defer tick.Stop()
			var inflight sync.WaitGroup
			for k := 0; time.Now().Before(end); k++ {
				<-tick.C
				inflight.Add(1)
				go func() {
					defer inflight.Done()
					start := time.Now()
					err := op(k)
					if kind != "deadline proposal" {
						r.add(kind, time.Since(start), err)
					}
				}()
			}
			inflight.Wait()
		}()
	}
	wg.Wait()
	// A deadline decision's delay: from the deadline (two seconds after the proposal) to the
	// pass that decided it; one still pending counts until now.
	now := time.Now()
	for _, id := range deadlines {
		p, err := store.ProposalByID(context.Background(), n.community.ID, id)
		switch {
		case err != nil:
			r.add("deadline decision", 0, err)
		case p.DecidedAt != nil:
			lag := p.DecidedAt.Sub(p.CreatedAt.Add(2 * time.Second))
			if lag < 0 {
				r.add("deadline decision", 0, fmt.Errorf("proposal %d decided %s before its deadline (created %s, decided %s)", id, -lag, p.CreatedAt, p.DecidedAt))
				continue
			}
			r.add("deadline decision", lag, nil)
		default:
			r.add("deadline decision", now.Sub(p.CreatedAt.Add(2*time.Second)), nil)
		}
	}
	return r
}
