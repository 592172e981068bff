package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	slackapi "github.com/slack-go/slack"

	"policykit/engine"
	"policykit/models"
)

// Inbound receives what Slack sends: Events API deliveries and interactivity payloads
// (button clicks). Each request is verified on its raw body before anything else, answered
// at once, and processed by a small pool of workers, so Slack always gets its answer within
// its 3-second limit whatever the database is doing.
type Inbound struct {
	s    *Slack
	eng  *engine.Engine
	log  *slog.Logger
	opts InboundOptions

	jobs    chan job
	mu      sync.RWMutex // guards closed against sends on a closed channel
	closed  bool
	workers sync.WaitGroup
	pending atomic.Int64 // accepted jobs not yet finished, for Flush
	stop    context.CancelFunc
}

// InboundOptions size the worker pool.
type InboundOptions struct {
	Workers   int // default 4
	QueueSize int // default 256; a full queue answers 503 and Slack retries later
}

type job struct {
	kind     string // "event" or "interaction"
	body     []byte
	key      string // an event's delivery key in the inbox ("" for an interaction)
	attempts int    // times the event has been claimed for processing
}

// Request limits and delivery-key lifetimes.
const (
	// maxBody bounds what is read from Slack; its payloads are a few kilobytes.
	maxBody = 256 << 10
	// eventKeyTTL keeps event ids long past Slack's last retry (about 5 minutes later).
	eventKeyTTL = time.Hour
	// signatureTTL keeps request signatures past the 5-minute timestamp window, after
	// which a replay fails the timestamp check anyway.
	signatureTTL = 15 * time.Minute
	// jobTimeout bounds the processing of one request. An accepted event is claimed for
	// that long; after that, another process (or this one, restarted) takes it up again.
	jobTimeout = time.Minute
	// recoverEvery is how often accepted events left unprocessed are looked for.
	recoverEvery = 15 * time.Second
	// maxEventAttempts bounds how often an event whose processing fails is tried.
	maxEventAttempts = 5
)

// NewInbound prepares the inbound side; Start runs its workers.
func NewInbound(s *Slack, eng *engine.Engine, opts InboundOptions) *Inbound {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	return &Inbound{s: s, eng: eng, log: s.log, opts: opts, jobs: make(chan job, opts.QueueSize)}
}

// Start runs the workers and a janitor that takes up accepted events left unprocessed (by a
// crash, here or on another replica), sets up connections their community has approved, and
// forgets expired delivery keys.
func (in *Inbound) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.stop = cancel
	for range in.opts.Workers {
		in.workers.Add(1)
		go in.work()
	}
	in.workers.Add(1)
	go in.janitor(ctx)
}

// Recover queues accepted events whose processing claim has expired, and reports how many.
// The janitor calls it every recoverEvery; tests call it after moving the clock.
func (in *Inbound) Recover(ctx context.Context) (int, error) {
	now := in.s.cfg.Now()
	ds, err := in.s.store.ClaimUnprocessed(ctx, PlatformName, now, now.Add(jobTimeout), in.opts.QueueSize/2)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range ds {
		if in.enqueue(job{kind: d.Kind, body: []byte(d.Body), key: d.Key, attempts: d.Attempts}) {
			n++ // one not queued now is claimed again when its claim expires
		}
	}
	return n, nil
}

// Stop refuses new requests (503, so Slack retries them elsewhere or later), lets the
// workers finish what was accepted, and waits for them up to ctx's deadline.
func (in *Inbound) Stop(ctx context.Context) error {
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
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("slack inbound: %d requests left unprocessed: %w", in.pending.Load(), ctx.Err())
	}
}

// Flush waits until every accepted request has been processed (tests use it instead of
// sleeping).
func (in *Inbound) Flush(ctx context.Context) error {
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

func (in *Inbound) work() {
	defer in.workers.Done()
	for j := range in.jobs {
		in.run(j)
	}
}

func (in *Inbound) run(j job) {
	defer in.pending.Add(-1)
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		if j.kind == "event" {
			err = in.handleEvent(ctx, j.body, &engine.Receipt{Platform: PlatformName, Key: j.key})
		} else {
			err = in.handleInteraction(ctx, j.body)
		}
	}()
	if errors.Is(err, engine.ErrAlreadyGoverned) {
		in.log.Info("slack event already processed", "key", j.key)
		err = nil
	}
	if err != nil {
		in.log.Warn("slack inbound processing failed", "kind", j.kind, "attempt", j.attempts+1, "err", err)
		if j.key == "" || j.attempts+1 < maxEventAttempts {
			return // an event is taken up again when its claim expires
		}
		in.log.Error("slack event given up", "key", j.key, "attempts", j.attempts+1)
	}
	if j.key != "" { // done with (or given up on): drop its body from the inbox
		if _, err := in.s.store.ConsumeDelivery(context.WithoutCancel(ctx), PlatformName, j.key); err != nil {
			in.log.Warn("mark slack event processed", "key", j.key, "err", err)
		}
	}
}

func (in *Inbound) janitor(ctx context.Context) {
	defer in.workers.Done()
	recoverTick := time.NewTicker(recoverEvery)
	defer recoverTick.Stop()
	prune := time.NewTicker(10 * time.Minute)
	defer prune.Stop()
	for {
		if _, err := in.Recover(ctx); err != nil && ctx.Err() == nil {
			in.log.Warn("take up unprocessed slack events", "err", err)
		}
		if err := in.s.FinishConnections(ctx); err != nil && ctx.Err() == nil {
			in.log.Warn("set up approved slack connections", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-recoverTick.C:
		case <-prune.C:
			if _, err := in.s.store.PruneInbound(ctx, in.s.cfg.Now()); err != nil {
				in.log.Warn("prune slack delivery keys", "err", err)
			}
		}
	}
}

// enqueue hands a verified request to the workers; false when full or stopping.
func (in *Inbound) enqueue(j job) bool {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if in.closed {
		return false
	}
	in.pending.Add(1)
	select {
	case in.jobs <- j:
		return true
	default:
		in.pending.Add(-1)
		return false
	}
}

// verified reads the raw body and checks Slack's signature over it (HMAC-SHA256 of
// "v0:timestamp:body" with the signing secret, timestamp within 5 minutes) before anything
// is parsed. On failure it has answered and returns false.
func (in *Inbound) verified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || len(body) > maxBody:
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return nil, false
	case err != nil:
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return nil, false
	}
	sv, err := slackapi.NewSecretsVerifier(r.Header, in.s.cfg.SigningSecret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		in.log.Info("rejected an unsigned, forged or stale Slack request", "path", r.URL.Path, "err", err)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

// fresh rejects a request seen before: a replay within the timestamp window (Slack's own
// retries are signed anew). A request is known by what its signature signs, the timestamp
// and the body, not by the signature header's text: the header's hex may be written in
// other letter cases and still verify, and each spelling would look new.
func (in *Inbound) fresh(w http.ResponseWriter, r *http.Request, body []byte) bool {
	sum := sha256.Sum256(body)
	key := "req:" + r.Header.Get("X-Slack-Request-Timestamp") + ":" + hex.EncodeToString(sum[:])
	ok, err := in.s.store.RecordDelivery(r.Context(), PlatformName, key, in.s.cfg.Now().Add(signatureTTL))
	if err != nil {
		in.log.Error("record slack request", "err", err)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return false
	}
	if !ok {
		http.Error(w, "replayed request", http.StatusUnauthorized)
	}
	return ok
}

// envelope is the outer JSON of an Events API request.
type envelope struct {
	Type      string          `json:"type"`
	Challenge string          `json:"challenge"`
	TeamID    string          `json:"team_id"`
	EventID   string          `json:"event_id"`
	Event     json.RawMessage `json:"event"`
}

// ServeEvents answers POST /integrations/slack/events.
func (in *Inbound) ServeEvents(w http.ResponseWriter, r *http.Request) {
	body, ok := in.verified(w, r)
	if !ok {
		return
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		http.Error(w, "malformed event", http.StatusBadRequest)
		return
	}
	switch env.Type {
	case "url_verification":
		if env.Challenge == "" {
			http.Error(w, "missing challenge", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, env.Challenge)
		return
	case "event_callback":
	default: // app_rate_limited and types we do not use: acknowledged, nothing to do
		in.log.Info("slack event envelope ignored", "type", env.Type, "team", env.TeamID)
		w.WriteHeader(http.StatusOK)
		return
	}
	var head struct {
		Type string `json:"type"`
	}
	if env.TeamID == "" || env.EventID == "" || json.Unmarshal(env.Event, &head) != nil || head.Type == "" {
		http.Error(w, "malformed event", http.StatusBadRequest)
		return
	}
	// A retry may repeat the first delivery's signature (same second, same body); it is
	// marked and deduplicated by event id below. An unmarked repeat is a replay.
	if r.Header.Get("X-Slack-Retry-Num") == "" && !in.fresh(w, r, body) {
		return
	}
	// The event is in the inbox (with its body) before Slack hears it was received.
	key := "event:" + env.TeamID + ":" + env.EventID
	now := in.s.cfg.Now()
	first, err := in.s.store.AcceptDelivery(r.Context(), models.InboundDelivery{Platform: PlatformName, Key: key, Kind: "event", Body: string(body)},
		now.Add(eventKeyTTL), now.Add(jobTimeout))
	if err != nil {
		in.log.Error("record slack event id", "err", err)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	if !first { // a retry (X-Slack-Retry-Num) or a duplicate: already taken care of
		w.WriteHeader(http.StatusOK)
		return
	}
	if !in.enqueue(job{kind: "event", body: body, key: key}) {
		// Not accepted: forget the id so Slack's retry is taken.
		if err := in.s.store.ForgetDelivery(context.WithoutCancel(r.Context()), PlatformName, key); err != nil {
			in.log.Error("forget slack event id", "err", err)
		}
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// ServeInteractions answers POST /integrations/slack/interactions.
func (in *Inbound) ServeInteractions(w http.ResponseWriter, r *http.Request) {
	body, ok := in.verified(w, r)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "malformed interaction", http.StatusBadRequest)
		return
	}
	var cb slackapi.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil || cb.Team.ID == "" {
		http.Error(w, "malformed interaction", http.StatusBadRequest)
		return
	}
	if cb.Type != slackapi.InteractionTypeBlockActions {
		w.WriteHeader(http.StatusOK)
		return
	}
	if !in.fresh(w, r, body) {
		return
	}
	if !in.enqueue(job{kind: "interaction", body: []byte(form.Get("payload"))}) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// Paths of the inbound endpoints, as the README's app manifest gives them to Slack.
const (
	EventsPath       = "/integrations/slack/events"
	InteractionsPath = "/integrations/slack/interactions"
)
