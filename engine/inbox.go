package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"policykit/models"
)

// Inbox is the one inbound pipeline of every platform (DESIGN §10). Whatever brings an
// event in — a webhook, a websocket gateway or Socket Mode link, a poller — hands it to
// Accept, which writes it to the database (inbound_deliveries, with its body) before the
// source acknowledges it to the platform, so nothing acknowledged is lost in a crash. A small
// pool of workers then processes each delivery with its platform's Receive, which governs
// it in a transaction that also consumes the delivery, so it is governed exactly once however
// often it is processed. Deliveries left unprocessed — their process died (its heartbeat
// stopped, see Runtime), their processing failed, or the queue was full — are claimed again
// by any process's inbox within a second.
type Inbox struct {
	e    *Engine
	opts InboxOptions

	jobs    chan models.InboundDelivery
	mu      sync.RWMutex // guards closed against sends on a closed channel
	closed  bool
	workers sync.WaitGroup
	pending atomic.Int64 // queued deliveries not yet finished, for Flush
	stop    context.CancelFunc
	wake    chan struct{}
}

// InboxOptions size the inbox.
type InboxOptions struct {
	// Instance names this process in claims; the runtime's heartbeat vouches for it.
	Instance  string
	Workers   int // default 4
	QueueSize int // default 256; a full queue refuses deliveries (ErrBusy) so the platform retries
	// RecoverEvery is how often deliveries nobody holds are looked for. Default 1s.
	RecoverEvery time.Duration
}

// Inbox timings and limits.
const (
	// inboxClaim is how long a process holds a delivery it is processing. A process that
	// dies keeps it only until its heartbeat is seen to stop (seconds); this is the bound for
	// processes without a heartbeat row.
	inboxClaim = time.Minute
	// maxReceiveAttempts bounds how often a delivery whose processing fails is tried.
	maxReceiveAttempts = 5
	// pruneEvery is how often expired delivery keys and echoes are deleted.
	pruneEvery = 10 * time.Minute
)

// ErrBusy: the inbox cannot take a delivery now (its queue is full, or it is stopping). It
// has not been recorded; the source should refuse it so the platform sends it again.
var ErrBusy = errors.New("inbox busy: try again later")

// NewInbox prepares an inbox; Start runs its workers.
func NewInbox(e *Engine, opts InboxOptions) *Inbox {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.RecoverEvery <= 0 {
		opts.RecoverEvery = time.Second
	}
	if opts.Instance == "" {
		opts.Instance = NewInstanceName()
	}
	return &Inbox{e: e, opts: opts, jobs: make(chan models.InboundDelivery, opts.QueueSize), wake: make(chan struct{}, 1)}
}

// Accept writes a delivery to the inbox and queues it for processing; keep is how long its
// key is remembered afterwards, to recognise the platform's retries and duplicates. It
// reports false for a key already accepted (nothing to do). On ErrBusy nothing was recorded.
// Sources acknowledge a delivery to the platform only after Accept returned without error.
func (in *Inbox) Accept(ctx context.Context, d models.InboundDelivery, keep time.Duration) (bool, error) {
	if d.Body == "" {
		return false, fmt.Errorf("inbox: delivery %s has no body", d.Key)
	}
	in.mu.RLock()
	closed := in.closed
	in.mu.RUnlock()
	if closed || len(in.jobs) == cap(in.jobs) {
		return false, ErrBusy
	}
	now := in.e.Now()
	first, err := in.e.store.AcceptDelivery(ctx, d, in.opts.Instance, now.Add(keep), now.Add(inboxClaim))
	if err != nil || !first {
		return false, err
	}
	d.Attempts = 1
	if !in.enqueue(d) {
		// Filled up meanwhile: forget it, so the platform's retry is taken.
		if err := in.e.store.ForgetDelivery(context.WithoutCancel(ctx), d.Platform, d.Key); err != nil {
			in.e.log.Error("forget a delivery the inbox could not queue", "platform", d.Platform, "key", d.Key, "err", err)
		}
		return false, ErrBusy
	}
	return true, nil
}

// Start runs the workers and a janitor that claims deliveries nobody holds and prunes
// expired delivery keys.
func (in *Inbox) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.stop = cancel
	for range in.opts.Workers {
		in.workers.Add(1)
		go in.work()
	}
	in.workers.Add(1)
	go in.janitor(ctx)
}

// Stop refuses new deliveries, lets the workers finish the queued ones, waits for them up
// to ctx's deadline, and hands back the claims it could not finish.
func (in *Inbox) Stop(ctx context.Context) error {
	in.mu.Lock()
	if !in.closed {
		in.closed = true
		close(in.jobs)
	}
	in.mu.Unlock()
	if in.stop != nil {
		in.stop()
	}
	done := make(chan struct{})
	go func() { in.workers.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("inbox: %d deliveries left unprocessed: %w", in.pending.Load(), ctx.Err())
	}
	if rerr := in.e.store.ReleaseDeliveries(context.WithoutCancel(ctx), in.opts.Instance, in.e.Now()); rerr != nil {
		err = errors.Join(err, fmt.Errorf("hand back inbox claims: %w", rerr))
	}
	return err
}

// Flush waits until every queued delivery has been processed (tests use it instead of
// sleeping).
func (in *Inbox) Flush(ctx context.Context) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for in.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Recover claims deliveries nobody holds and queues them; it reports how many. The janitor
// calls it every RecoverEvery and when the runtime handed back a dead process's claims.
func (in *Inbox) Recover(ctx context.Context) (int, error) {
	room := cap(in.jobs) - len(in.jobs)
	if room <= 0 {
		return 0, nil
	}
	now := in.e.Now()
	ds, err := in.e.store.ClaimUnprocessed(ctx, in.e.PlatformNames(), in.opts.Instance, now, now.Add(inboxClaim), room)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range ds {
		if in.enqueue(d) {
			n++
		} else if err := in.e.store.RetryDelivery(ctx, d.Platform, d.Key, now); err != nil {
			return n, err
		}
	}
	return n, nil
}

// kick makes the janitor look for unclaimed deliveries now.
func (in *Inbox) kick() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

func (in *Inbox) enqueue(d models.InboundDelivery) bool {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if in.closed {
		return false
	}
	in.pending.Add(1)
	select {
	case in.jobs <- d:
		return true
	default:
		in.pending.Add(-1)
		return false
	}
}

func (in *Inbox) work() {
	defer in.workers.Done()
	for d := range in.jobs {
		in.process(d)
	}
}

// process runs one delivery through its platform. Done (or given up on), it is consumed;
// failed, it goes back to the inbox with a backoff.
func (in *Inbox) process(d models.InboundDelivery) {
	defer in.pending.Add(-1)
	ctx, cancel := context.WithTimeout(context.Background(), inboxClaim)
	defer cancel()
	log := in.e.log.With("platform", d.Platform, "key", d.Key, "attempt", d.Attempts)
	var err error
	p, ok := in.e.platforms[d.Platform]
	if !ok {
		err = fmt.Errorf("platform %q is not configured on this process", d.Platform)
	} else {
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			err = p.Receive(ctx, d)
		}()
	}
	if errors.Is(err, ErrAlreadyGoverned) {
		log.Info("delivery already processed")
		err = nil
	}
	store := in.e.store
	if err != nil {
		if d.Attempts < maxReceiveAttempts {
			log.Warn("processing an inbound delivery failed; it will be tried again", "err", err)
			if rerr := store.RetryDelivery(context.WithoutCancel(ctx), d.Platform, d.Key, in.e.Now().Add(backoff(d.Attempts))); rerr != nil {
				log.Error("hand a failed delivery back", "err", rerr)
			}
			return
		}
		log.Error("inbound delivery given up", "err", err)
	}
	if _, err := store.ConsumeDelivery(context.WithoutCancel(ctx), d.Platform, d.Key); err != nil {
		log.Warn("mark a delivery processed", "err", err)
	}
}

func (in *Inbox) janitor(ctx context.Context) {
	defer in.workers.Done()
	recoverTick := time.NewTicker(in.opts.RecoverEvery)
	defer recoverTick.Stop()
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-recoverTick.C:
		case <-in.wake:
		case <-prune.C:
			if _, err := in.e.store.PruneInbound(ctx, in.e.Now()); err != nil && ctx.Err() == nil {
				in.e.log.Warn("prune delivery keys", "err", err)
			}
		}
		if _, err := in.Recover(ctx); err != nil && ctx.Err() == nil {
			in.e.log.Warn("take up unprocessed inbound deliveries", "err", err)
		}
	}
}
