package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"policykit/models"
)

// Group commit. Governing an action or counting a vote is a handful of small statements;
// the commit that follows dominates (SQLite serialises writers; PostgreSQL waits for its
// WAL flush). So requests that arrive together share one transaction: a leader goroutine,
// started when the first request of a busy period arrives, runs every queued request, each
// inside its own savepoint so one request's error rolls back only its own writes, then
// writes all their audit events and effects and commits once. A caller returns as soon as
// its own batch has committed.
//
// Policies run inside these transactions, so one community's costly policy could hold up
// every community batched with it (and, on SQLite, every writer). Two rules bound that:
// a request's policies may evaluate for at most maxRequestEval altogether (budget.go),
// and a community whose requests took slowRequest or more of evaluation lately is never
// batched with others: its requests run alone, one after each batch of the others, so a
// request of another community waits for at most one of them (README, "Isolation").
type groupCommit struct {
	mu    sync.Mutex
	queue []*commitRequest
	// slow holds the requests of communities marked slow, run one per round, not before
	// slowNext; wake tells a leader waiting for slowNext that another request arrived.
	slow     []*commitRequest
	slowNext time.Time
	wake     chan struct{}
	running  bool
	// ids are this shard's reserved ids, kept from batch to batch on PostgreSQL (sequence
	// values are never handed out twice, even when the batch that drew them rolls back).
	// SQLite reserves after the highest id written, so a block lives for one batch.
	ids *idBlocks
}

// commitRequest is one governance operation on one community.
type commitRequest struct {
	ctx         context.Context
	communityID int64
	fn          func(t *txn) error
	err         error
	done        chan struct{}
}

// maxBatch bounds how many requests share one transaction.
const maxBatch = 128

// groupCommits makes the shards. SQLite has one writer, so one shard; on PostgreSQL,
// communities are spread over a few shards that commit in parallel (a community always maps
// to the same shard, whose requests queue on its row lock anyway).
func groupCommits(dialect string) []*groupCommit {
	n := 1
	if dialect == models.DialectPostgres {
		n = 4
	}
	out := make([]*groupCommit, n)
	for i := range out {
		out[i] = &groupCommit{wake: make(chan struct{}, 1)}
		if dialect == models.DialectPostgres {
			out[i].ids = newIDBlocks()
		}
	}
	return out
}

// governTx runs fn in a governance transaction on a community, grouped with concurrent
// requests. fn records audit events and effects on t; they are written before the commit.
func (e *Engine) governTx(ctx context.Context, communityID int64, fn func(t *txn) error) error {
	g := e.commits[int(communityID%int64(len(e.commits)))]
	r := &commitRequest{ctx: ctx, communityID: communityID, fn: fn, done: make(chan struct{})}
	slow := e.slow.is(communityID, time.Now())
	g.mu.Lock()
	if slow {
		g.slow = append(g.slow, r)
	} else {
		g.queue = append(g.queue, r)
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
	if !g.running {
		g.running = true
		go e.lead(context.WithoutCancel(ctx), g)
	}
	g.mu.Unlock()
	<-r.done // the leader runs it (or skips it if ctx is done by then)
	return r.err
}

// RunsAlone tells whether a community's requests run alone, outside shared batches, because
// its policies evaluated slowly lately.
func (e *Engine) RunsAlone(communityID int64) bool { return e.slow.is(communityID, time.Now()) }

// lead runs rounds until the queues are empty: a batch of the queued requests of
// communities that are not slow, then one request of a slow community, alone. Slow
// requests get at most a quarter of the time: after one that took d, the next waits 3d
// (other requests go on meanwhile), so a community of costly policies slows itself, not
// the others.
func (e *Engine) lead(ctx context.Context, g *groupCommit) {
	g.mu.Lock()
	for len(g.queue) > 0 || len(g.slow) > 0 {
		if len(g.queue) > 0 {
			n := min(len(g.queue), maxBatch)
			batch := g.queue[:n:n]
			g.queue = g.queue[n:]
			g.mu.Unlock()
			later := e.runBatch(ctx, batch, g.ids)
			g.mu.Lock()
			var next []*commitRequest // put off: first in the next batch, or alone if now slow
			for _, r := range later {
				if e.slow.is(r.communityID, time.Now()) {
					g.slow = append(g.slow, r)
				} else {
					next = append(next, r)
				}
			}
			g.queue = append(next, g.queue...)
		}
		if len(g.slow) == 0 {
			continue
		}
		if wait := time.Until(g.slowNext); wait > 0 {
			if len(g.queue) == 0 { // idle until the slow lane's turn or another request
				g.mu.Unlock()
				select {
				case <-time.After(wait):
				case <-g.wake:
				}
				g.mu.Lock()
			}
			continue
		}
		one := g.slow[:1:1]
		g.slow = g.slow[1:]
		g.mu.Unlock()
		start := time.Now()
		e.runBatch(ctx, one, g.ids) // a batch of one puts nothing off
		g.mu.Lock()
		g.slowNext = time.Now().Add(3 * time.Since(start))
	}
	g.running = false
	g.mu.Unlock()
}

// runBatch runs a batch of requests in one transaction and wakes their callers.
// ids is the shard's id reservation, or nil for one that lasts this batch. A request whose
// policies counted slowRequest steps or more marks its community slow. Once the batch's
// requests have counted maxSteps together (one stage's budget, some 25 ms), or one
// community half of it, the requests not yet run (that community's, or all) are put off:
// returned, to lead the next batch.
func (e *Engine) runBatch(ctx context.Context, batch []*commitRequest, ids *idBlocks) (later []*commitRequest) {
	putOff := map[*commitRequest]bool{}
	defer func() {
		if p := recover(); p != nil {
			for _, r := range batch {
				if r.err == nil {
					r.err = fmt.Errorf("governance transaction panicked: %v", p)
				}
			}
			later, putOff = nil, nil
		}
		for _, r := range batch {
			if !putOff[r] {
				close(r.done)
			}
		}
	}()
	evaluated := map[int64]int64{} // steps per community, in this batch
	var total int64
	recorded := false
	err := e.store.Tx(ctx, func(tx *models.Store) error {
		merged := map[int64]*txn{}
		if ids == nil {
			ids = newIDBlocks() // one reservation serves the whole batch
		}
		// Lock every community of the batch first, in id order (no deadlock between shards or
		// replicas), in the transaction itself: a row lock taken inside a savepoint belongs
		// to that subtransaction, and every later write referencing the row would then
		// share it with the parent through a multixact.
		locked := map[int64]*models.Community{}
		lockErr := map[int64]error{}
		for _, r := range batch {
			locked[r.communityID] = nil
		}
		for _, id := range slices.Sorted(maps.Keys(locked)) {
			c, err := tx.LockCommunity(ctx, id)
			if err != nil && !errors.Is(err, models.ErrNotFound) {
				return err
			}
			locked[id], lockErr[id] = c, err
		}
		ok := 0
		open := "" // the savepoint of the request that ran last, if any
		for i, r := range batch {
			if err := r.ctx.Err(); err != nil {
				r.err = err
				continue
			}
			if len(batch) > 1 && (total >= maxSteps || evaluated[r.communityID] >= maxSteps/2) {
				putOff[r] = true
				later = append(later, r)
				continue
			}
			// The request's savepoint is opened by its first statement, if it runs one.
			sp := fmt.Sprintf("req%d", i)
			rtx := tx
			if len(batch) > 1 {
				rtx = tx.WithLazySavePoint(sp, open)
			}
			c, err := locked[r.communityID], lockErr[r.communityID]
			if c == nil && err == nil { // read again after a change of governance
				if c, err = rtx.LockCommunity(ctx, r.communityID); err == nil {
					locked[r.communityID] = c
				}
			}
			var t *txn
			if err == nil {
				// Not cancelled once started: a statement cancelled mid-batch (a client gone, a
				// check pass ending) would close the shared connection, and every request of
				// the batch would fail with it.
				t = e.beginLocked(context.WithoutCancel(r.ctx), rtx, c)
				t.ids = ids
				err = r.fn(t)
				evaluated[r.communityID] += t.evalSteps
				total += t.evalSteps
				if t.evalSteps >= slowRequest {
					e.slow.mark(r.communityID, time.Now())
				}
			}
			if rtx.SavePointTaken() {
				open = sp
			}
			if err != nil {
				r.err = err
				if len(batch) == 1 {
					return err
				}
				if rtx.SavePointTaken() {
					if rbErr := tx.RollbackTo(ctx, sp); rbErr != nil {
						return rbErr
					}
				}
				locked[r.communityID] = nil // its in-memory state may be the failed request's
				continue
			}
			t.tx = tx // what it recorded is written by flush, in the transaction itself
			ok++
			if t.governanceChanged {
				locked[r.communityID] = nil // read its new epoch for the next request
			}
			if m := merged[r.communityID]; m == nil {
				merged[r.communityID] = t
			} else {
				m.merge(t)
			}
		}
		if ok == 0 {
			return errNothingToCommit
		}
		if open != "" { // flush writes in the transaction itself, not a nested savepoint
			if err := tx.ReleaseSavePoint(ctx, open); err != nil {
				return err
			}
		}
		communities := make([]int64, 0, len(merged))
		for id := range merged {
			communities = append(communities, id)
		}
		slices.Sort(communities)
		for _, id := range communities {
			added, err := merged[id].flush()
			if err != nil {
				return err
			}
			recorded = recorded || added
		}
		return nil
	})
	if err != nil && err != errNothingToCommit {
		for _, r := range batch {
			if r.err == nil && !putOff[r] {
				r.err = err
			}
		}
		return later
	}
	if recorded {
		e.onDecided()
	}
	return later
}

// errNothingToCommit rolls back a batch whose every request failed.
var errNothingToCommit = errors.New("every request of the batch failed")
