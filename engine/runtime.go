package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"policykit/models"
)

// RuntimeOptions configure the background work of one server process.
type RuntimeOptions struct {
	// CheckInterval is how often pending proposals are re-checked for time-based rules
	// (votes trigger their own immediate re-check). Default 5s.
	CheckInterval time.Duration
	// DeliverInterval is how often the outbox is polled when nothing wakes it. Default 1s.
	DeliverInterval time.Duration
	// Instance names this process in claims; default host-pid-random.
	Instance string
	// Inbox sizes the shared inbound pipeline (its Instance is this one).
	Inbox InboxOptions
	// HeartbeatInterval is how often this process records that it is alive, looks for
	// processes that died, and renews its links' leases. Default 1s. HeartbeatTimeout is how
	// old a heartbeat must be for its process to count as dead (its claims and leases are
	// then handed back); default 3s.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	// Registry receives the runtime's Prometheus metrics (nil: not exported).
	Registry prometheus.Registerer
}

// Runtime runs the engine by itself: a cron job re-checks pending proposals so deadlines
// fire on time, a delivery loop sends stored effects to the platforms, woken at once when a
// decision records effects, and the inbox processes what platforms send. Several processes
// may run against one PostgreSQL: effect claims and proposal locks keep them from doubling
// any work.
type Runtime struct {
	e       *Engine
	opts    RuntimeOptions
	inbox   *Inbox
	links   *links
	cron    *cron.Cron
	wake    chan struct{}
	stop    context.CancelFunc
	done    sync.WaitGroup
	metrics *runtimeMetrics

	mu     sync.Mutex
	status RuntimeStatus
}

// RuntimeStatus is what the admin page shows about the loops.
type RuntimeStatus struct {
	Instance      string
	CheckInterval time.Duration
	Links         []string // the platform links this process holds
	LastPass      PassStats
	LastPassError string
	Passes        int64
	Delivered     int64
	Rescheduled   int64
	Failed        int64
	LastDelivery  time.Time
}

type runtimeMetrics struct {
	passSeconds prometheus.Histogram
	checked     prometheus.Counter
	decided     prometheus.Counter
	errors      prometheus.Counter
	lastPass    prometheus.Gauge
	effects     *prometheus.CounterVec
}

// NewRuntime prepares the loops; Start runs them.
func NewRuntime(e *Engine, opts RuntimeOptions) (*Runtime, error) {
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = 5 * time.Second
	}
	if opts.DeliverInterval <= 0 {
		opts.DeliverInterval = time.Second
	}
	if opts.Instance == "" {
		opts.Instance = NewInstanceName()
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = 3 * opts.HeartbeatInterval
	}
	opts.Inbox.Instance = opts.Instance
	m := &runtimeMetrics{
		passSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "policykit_check_pass_seconds",
			Help: "Duration of a re-check pass over pending proposals.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		checked:  prometheus.NewCounter(prometheus.CounterOpts{Name: "policykit_check_proposals_total", Help: "Pending proposals re-checked."}),
		decided:  prometheus.NewCounter(prometheus.CounterOpts{Name: "policykit_check_decided_total", Help: "Proposals decided by the check loop."}),
		errors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "policykit_check_errors_total", Help: "Policy errors and failed passes in the check loop."}),
		lastPass: prometheus.NewGauge(prometheus.GaugeOpts{Name: "policykit_check_last_pass_timestamp_seconds", Help: "When the last check pass finished."}),
		effects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "policykit_effects_total",
			Help: "Effect delivery attempts by outcome (delivered, rescheduled, failed)."}, []string{"outcome"}),
	}
	if opts.Registry != nil {
		for _, c := range []prometheus.Collector{m.passSeconds, m.checked, m.decided, m.errors, m.lastPass, m.effects} {
			if err := opts.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("register runtime metrics: %w", err)
			}
		}
	}
	r := &Runtime{e: e, opts: opts, wake: make(chan struct{}, 1), metrics: m, inbox: NewInbox(e, opts.Inbox),
		status: RuntimeStatus{Instance: opts.Instance, CheckInterval: opts.CheckInterval}}
	r.links = &links{r: r, running: map[string]*runningLink{}}
	e.OnDecided(r.kick)
	return r, nil
}

// NewInstanceName names a process uniquely: host, pid and a random suffix.
func NewInstanceName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), models.RandomCode(3))
}

// Inbox is this process's end of the shared inbound pipeline, for platform plug-ins.
func (r *Runtime) Inbox() *Inbox { return r.inbox }

// kick wakes the delivery loop without blocking.
func (r *Runtime) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Start records this process's first heartbeat and runs the check job, the delivery loop,
// the inbox and the heartbeat loop (which also runs the platforms' links) until Stop.
func (r *Runtime) Start(ctx context.Context) error {
	if _, err := r.e.store.Beat(ctx, r.opts.Instance, r.e.Now()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = cancel
	logger := cronLogger{r.e.log}
	r.cron = cron.New(cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)), cron.WithLogger(logger))
	if _, err := r.cron.AddFunc(fmt.Sprintf("@every %s", r.opts.CheckInterval), func() { r.CheckOnce(ctx) }); err != nil {
		cancel()
		return fmt.Errorf("schedule check loop: %w", err)
	}
	r.cron.Start()
	r.inbox.Start(ctx)
	r.done.Add(2)
	go r.deliveryLoop(ctx)
	go r.heartbeatLoop(ctx)
	r.e.log.Info("runtime started", "instance", r.opts.Instance, "check_interval", r.opts.CheckInterval)
	return nil
}

// heartbeatLoop keeps this process's heartbeat fresh, hands back the claims and leases of
// processes whose heartbeat stopped (so their work resumes here within seconds, not when
// their claims expire), and keeps the platforms' links running.
func (r *Runtime) heartbeatLoop(ctx context.Context) {
	defer r.done.Done()
	t := time.NewTicker(r.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		now := r.e.Now()
		switch known, err := r.e.store.Beat(ctx, r.opts.Instance, now); {
		case err != nil && ctx.Err() == nil:
			r.e.log.Warn("record heartbeat", "err", err)
		case err == nil && !known:
			// Another process took this one for dead: its heartbeat was late (an overloaded
			// machine, a stalled database). What it held was handed back, so a delivery it
			// was making may be made again, reconciled with the platform.
			r.e.log.Error("this process's heartbeat was late and its claims were handed to others", "instance", r.opts.Instance,
				"heartbeat_timeout", r.opts.HeartbeatTimeout)
		}
		released, err := r.e.store.ReleaseDeadClaims(ctx, now.Add(-r.opts.HeartbeatTimeout), now)
		switch {
		case err != nil && ctx.Err() == nil:
			r.e.log.Warn("hand back the claims of dead processes", "err", err)
		case len(released.Instances) > 0:
			r.e.log.Warn("processes stopped answering; their work resumes here", "instances", released.Instances,
				"effects", released.Effects, "inbox_items", released.Deliveries, "links", released.Leases)
			r.kick()
			r.inbox.kick()
		}
		r.links.sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stop stops scheduling, finishes the inbox's queued deliveries, waits for a running check
// pass and for deliveries in flight (up to ctx's deadline), and hands this process's
// unfinished claims back so another process can take them at once. Stop the sources that
// feed the inbox (the web server) first.
func (r *Runtime) Stop(ctx context.Context) error {
	if r.cron == nil {
		return nil
	}
	r.links.stopAll(ctx) // they feed the inbox
	inboxErr := r.inbox.Stop(ctx)
	stopped := r.cron.Stop()
	r.stop()
	finished := make(chan struct{})
	go func() { r.done.Wait(); close(finished) }()
	select {
	case <-stopped.Done():
	case <-ctx.Done():
	}
	select {
	case <-finished:
	case <-ctx.Done():
	}
	bg := context.WithoutCancel(ctx)
	if err := r.e.store.ReleaseClaims(bg, r.opts.Instance); err != nil {
		return errors.Join(inboxErr, err)
	}
	return errors.Join(inboxErr, r.e.store.EndInstance(bg, r.opts.Instance))
}

// CheckOnce runs one re-check pass and records its status.
func (r *Runtime) CheckOnce(ctx context.Context) {
	stats, err := r.e.CheckPending(ctx)
	r.metrics.passSeconds.Observe(stats.Duration.Seconds())
	r.metrics.checked.Add(float64(stats.Checked))
	r.metrics.decided.Add(float64(stats.Decided))
	r.metrics.errors.Add(float64(stats.Errors))
	r.metrics.lastPass.SetToCurrentTime()
	r.mu.Lock()
	r.status.LastPass, r.status.Passes = stats, r.status.Passes+1
	r.status.LastPassError = ""
	if err != nil {
		r.status.LastPassError = err.Error()
	}
	r.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		r.metrics.errors.Inc()
		r.e.log.Error("check pass failed", "err", err)
	}
}

func (r *Runtime) deliveryLoop(ctx context.Context) {
	defer r.done.Done()
	t := time.NewTicker(r.opts.DeliverInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-t.C:
		}
		stats, err := r.e.DeliverDue(ctx, r.opts.Instance)
		r.metrics.effects.WithLabelValues("delivered").Add(float64(stats.Delivered))
		r.metrics.effects.WithLabelValues("rescheduled").Add(float64(stats.Rescheduled))
		r.metrics.effects.WithLabelValues("failed").Add(float64(stats.Failed))
		r.mu.Lock()
		r.status.Delivered += int64(stats.Delivered)
		r.status.Rescheduled += int64(stats.Rescheduled)
		r.status.Failed += int64(stats.Failed)
		if stats.Delivered+stats.Rescheduled+stats.Failed > 0 {
			r.status.LastDelivery = r.e.Now()
		}
		r.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			r.e.log.Error("delivery round failed", "err", err)
		}
	}
}

// Status returns a snapshot of the loops' status.
func (r *Runtime) Status() RuntimeStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.status
	st.Links = r.links.held()
	return st
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
