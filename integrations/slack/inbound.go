package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	slackapi "github.com/slack-go/slack"

	"policykit/engine"
	"policykit/models"
)

// What Slack sends reaches the shared inbox (engine.Inbox) two ways: over HTTP (the Events
// API and interactivity endpoints here, each request verified on its raw body) or over
// Socket Mode (socketmode.go). Either way an event or a click is written to the inbox before
// Slack hears it was received, and processed by Receive, so both transports govern alike.

// Request limits and delivery-key lifetimes.
const (
	// maxBody bounds what is read from Slack; its payloads are a few kilobytes.
	maxBody = 256 << 10
	// eventKeyTTL keeps event ids long past Slack's last retry (about 5 minutes later).
	eventKeyTTL = time.Hour
	// signatureTTL keeps request signatures past the 5-minute timestamp window, after
	// which a replay fails the timestamp check anyway.
	signatureTTL = 15 * time.Minute
)

// Kinds of inbox deliveries.
const (
	kindEvent = "event" // an Events API event_callback envelope
	kindClick = "click" // a block_actions interaction payload
)

// Paths of the inbound endpoints, as the README's app manifest gives them to Slack.
const (
	EventsPath       = "/integrations/slack/events"
	InteractionsPath = "/integrations/slack/interactions"
)

// Webhooks implements the website's connector: the Events API and interactivity endpoints,
// when a signing secret is configured (with only Socket Mode, Slack sends nothing over HTTP).
func (s *Slack) Webhooks() map[string]http.Handler {
	if s.cfg.SigningSecret == "" {
		return nil
	}
	return map[string]http.Handler{EventsPath: http.HandlerFunc(s.ServeEvents), InteractionsPath: http.HandlerFunc(s.ServeInteractions)}
}

// Receive implements engine.Platform: it processes one delivery from the inbox.
func (s *Slack) Receive(ctx context.Context, d models.InboundDelivery) error {
	switch d.Kind {
	case kindEvent:
		return s.handleEvent(ctx, []byte(d.Body), &engine.Receipt{Platform: d.Platform, Key: d.Key})
	case kindClick:
		return s.handleInteraction(ctx, []byte(d.Body))
	}
	return fmt.Errorf("unknown slack delivery kind %q", d.Kind)
}

// accept writes a verified delivery to the inbox and says what to answer Slack: 200 once it
// is in the inbox (or was already), 503 when the inbox cannot take it, so Slack retries.
func (s *Slack) accept(ctx context.Context, kind, key string, body []byte) int {
	_, err := s.inbox.Accept(ctx, models.InboundDelivery{Platform: PlatformName, Key: key, Kind: kind, Body: string(body)}, eventKeyTTL)
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, engine.ErrBusy):
		return http.StatusServiceUnavailable
	default:
		s.log.Error("accept a slack delivery", "kind", kind, "err", err)
		return http.StatusServiceUnavailable
	}
}

// eventKey is an event's delivery key: Slack's retries and Socket Mode's redeliveries
// carry the same event id.
func eventKey(teamID, eventID string) string { return "event:" + teamID + ":" + eventID }

// clickKey is a click's delivery key. Slack does not number interactions; the payload
// (which carries the action's own timestamp) identifies one click.
func clickKey(payload []byte) string {
	sum := sha256.Sum256(payload)
	return "click:" + hex.EncodeToString(sum[:12])
}

// verified reads the raw body and checks Slack's signature over it (HMAC-SHA256 of
// "v0:timestamp:body" with the signing secret, timestamp within 5 minutes) before anything
// is parsed. On failure it has answered and returns false.
func (s *Slack) verified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
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
	sv, err := slackapi.NewSecretsVerifier(r.Header, s.cfg.SigningSecret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		s.log.Info("rejected an unsigned, forged or stale Slack request", "path", r.URL.Path, "err", err)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

// fresh rejects a request seen before: a replay within the timestamp window (Slack's own
// retries are signed anew). A request is known by what its signature signs, the timestamp
// and the body, not by the signature header's text: the header's hex may be written in
// other letter cases and still verify, and each spelling would look new.
func (s *Slack) fresh(w http.ResponseWriter, r *http.Request, body []byte) bool {
	sum := sha256.Sum256(body)
	key := "req:" + r.Header.Get("X-Slack-Request-Timestamp") + ":" + hex.EncodeToString(sum[:])
	ok, err := s.store.RecordDelivery(r.Context(), PlatformName, key, s.cfg.Now().Add(signatureTTL))
	if err != nil {
		s.log.Error("record slack request", "err", err)
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

// parseEnvelope checks an event_callback's outer JSON: it must name a team, an event id and
// an inner event with a type.
func parseEnvelope(body []byte) (envelope, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return env, fmt.Errorf("malformed event: %w", err)
	}
	if env.Type != "event_callback" {
		return env, nil
	}
	var head struct {
		Type string `json:"type"`
	}
	if env.TeamID == "" || env.EventID == "" || json.Unmarshal(env.Event, &head) != nil || head.Type == "" {
		return env, errors.New("malformed event: no team, event id or inner event")
	}
	return env, nil
}

// ServeEvents answers POST /integrations/slack/events.
func (s *Slack) ServeEvents(w http.ResponseWriter, r *http.Request) {
	body, ok := s.verified(w, r)
	if !ok {
		return
	}
	env, err := parseEnvelope(body)
	if err != nil {
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
		s.log.Info("slack event envelope ignored", "type", env.Type, "team", env.TeamID)
		w.WriteHeader(http.StatusOK)
		return
	}
	// A retry may repeat the first delivery's signature (same second, same body); it is
	// marked and deduplicated by event id in the inbox. An unmarked repeat is a replay.
	if r.Header.Get("X-Slack-Retry-Num") == "" && !s.fresh(w, r, body) {
		return
	}
	w.WriteHeader(s.accept(r.Context(), kindEvent, eventKey(env.TeamID, env.EventID), body))
}

// ServeInteractions answers POST /integrations/slack/interactions.
func (s *Slack) ServeInteractions(w http.ResponseWriter, r *http.Request) {
	body, ok := s.verified(w, r)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "malformed interaction", http.StatusBadRequest)
		return
	}
	payload := []byte(form.Get("payload"))
	var cb slackapi.InteractionCallback
	if err := json.Unmarshal(payload, &cb); err != nil || cb.Team.ID == "" {
		http.Error(w, "malformed interaction", http.StatusBadRequest)
		return
	}
	if cb.Type != slackapi.InteractionTypeBlockActions {
		w.WriteHeader(http.StatusOK)
		return
	}
	if !s.fresh(w, r, body) {
		return
	}
	w.WriteHeader(s.accept(r.Context(), kindClick, clickKey(payload), payload))
}
