package engine

import (
	"context"
	"sort"
	"sync"
	"time"
)

// links runs the platforms' long-lived connections (LinkHolder): each link runs in the one
// process that holds its lease in the database. Every second the runtime lists the links the
// platforms want, renews the leases of those it runs, stops those it lost or that are no
// longer wanted, and tries to take the others. A holder that dies loses its leases as soon as
// its heartbeat is stale (ReleaseDeadClaims), so a link moves to another replica within
// seconds. A holder that cannot renew stops its link before the lease expires, so two
// processes never run one link at once.
type links struct {
	r       *Runtime
	mu      sync.Mutex
	running map[string]*runningLink
	stopped bool // stopAll was called: start nothing more
	wg      sync.WaitGroup
}

type runningLink struct {
	cancel  context.CancelFunc
	renewed time.Time     // last successful renewal, by the engine's clock
	done    chan struct{} // closed when Run returned and the lease was given up
	retry   time.Time     // after a failure, not started again before this
}

// sync brings the running links in line with what the platforms want.
func (l *links) sync(ctx context.Context) {
	r := l.r
	want := map[string]Link{}
	for _, p := range r.e.platforms {
		holder, ok := p.(LinkHolder)
		if !ok {
			continue
		}
		ls, err := holder.Links(ctx)
		if err != nil {
			r.e.log.Warn("list platform links", "platform", p.Name(), "err", err)
			continue
		}
		for _, link := range ls {
			want[link.Key] = link
		}
	}
	now := r.e.Now()
	ttl := r.opts.HeartbeatTimeout
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	for key, rl := range l.running {
		select {
		case <-rl.done:
			if now.Before(rl.retry) {
				continue // failed recently: keep it out of the way for a moment
			}
			delete(l.running, key)
			continue
		default:
		}
		if _, wanted := want[key]; !wanted {
			rl.cancel()
			continue
		}
		held, err := r.e.store.AcquireLease(ctx, key, r.opts.Instance, now, now.Add(ttl))
		switch {
		case err == nil && held:
			rl.renewed = now
		case err == nil: // another process has it: this one's lease was taken after all
			r.e.log.Warn("platform link lost its lease", "link", key)
			rl.cancel()
		case now.Sub(rl.renewed) > ttl*2/3: // cannot renew: stop before anyone may take it
			r.e.log.Warn("platform link cannot renew its lease; stopping it", "link", key, "err", err)
			rl.cancel()
		}
	}
	for key, link := range want {
		if _, ok := l.running[key]; ok || ctx.Err() != nil {
			continue
		}
		held, err := r.e.store.AcquireLease(ctx, key, r.opts.Instance, now, now.Add(ttl))
		if err != nil {
			r.e.log.Warn("take a platform link's lease", "link", key, "err", err)
			continue
		}
		if held {
			l.start(ctx, link, now)
		}
	}
}

// start runs a link whose lease this process just took.
func (l *links) start(ctx context.Context, link Link, now time.Time) {
	r := l.r
	lctx, cancel := context.WithCancel(ctx)
	rl := &runningLink{cancel: cancel, renewed: now, done: make(chan struct{})}
	l.running[link.Key] = rl
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(rl.done)
		r.e.log.Info("platform link started", "link", link.Key, "instance", r.opts.Instance)
		err := link.Run(lctx)
		cancel()
		if err != nil && lctx.Err() == nil {
			r.e.log.Warn("platform link failed; it will be started again", "link", link.Key, "err", err)
			l.mu.Lock()
			rl.retry = r.e.Now().Add(linkRetry)
			l.mu.Unlock()
		} else {
			r.e.log.Info("platform link stopped", "link", link.Key)
		}
		if err := r.e.store.ReleaseLease(context.WithoutCancel(ctx), link.Key, r.opts.Instance); err != nil {
			r.e.log.Warn("give a platform link's lease up", "link", link.Key, "err", err)
		}
	}()
}

// linkRetry is how long a failed link waits before it is started again (here or elsewhere:
// its lease is given up at once).
const linkRetry = 2 * time.Second

// stopAll stops every link and waits for them (their leases are given up as they stop).
func (l *links) stopAll(ctx context.Context) {
	l.mu.Lock()
	l.stopped = true
	for _, rl := range l.running {
		rl.cancel()
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// held lists the links this process runs now.
func (l *links) held() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for key, rl := range l.running {
		select {
		case <-rl.done:
		default:
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}
