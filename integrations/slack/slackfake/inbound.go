package slackfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sign returns the headers Slack puts on every request it sends an app:
// X-Slack-Request-Timestamp (unix seconds) and
// X-Slack-Signature = "v0=" + hex(HMAC-SHA256(secret, "v0:"+timestamp+":"+body)).
func Sign(secret string, ts time.Time, body []byte) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + stamp + ":"))
	mac.Write(body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

// Envelope is one event_callback delivery. Keeping it lets a test deliver the
// very same event_id again, as Slack does when it retries.
type Envelope struct {
	EventID     string
	Body        []byte // the exact JSON delivered
	RetryNum    int    // > 0 adds X-Slack-Retry-Num and X-Slack-Retry-Reason
	RetryReason string
}

// Retry returns the envelope as Slack's next retry of it, e.g.
// env.Retry("http_timeout").
func (e Envelope) Retry(reason string) Envelope {
	e.RetryNum++
	e.RetryReason = reason
	return e
}

// NewEnvelope wraps an inner event (an [Event] or anything that marshals to
// one) in an event_callback envelope with a fresh event_id.
func (s *Server) NewEnvelope(event any) (Envelope, error) {
	inner, err := json.Marshal(event)
	if err != nil {
		return Envelope{}, fmt.Errorf("slackfake: marshal event: %w", err)
	}
	id := "Ev" + strings.ToUpper(randomToken()[:10])
	outer := map[string]any{
		"token":      s.verifyTok,
		"team_id":    s.teamID,
		"api_app_id": s.appID,
		"event":      json.RawMessage(inner),
		"type":       "event_callback",
		"event_id":   id,
		"event_time": time.Now().Unix(),
		"authorizations": []map[string]any{{
			"enterprise_id": nil, "team_id": s.teamID, "user_id": s.botUserID,
			"is_bot": true, "is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false,
		"event_context":         "4-" + randomToken()[:24],
	}
	body, err := json.Marshal(outer)
	if err != nil {
		return Envelope{}, fmt.Errorf("slackfake: marshal envelope: %w", err)
	}
	return Envelope{EventID: id, Body: body}, nil
}

// SendEvent delivers event to an Events API endpoint in a fresh signed
// envelope. The caller closes the response body.
func (s *Server) SendEvent(ctx context.Context, target, secret string, event any) (*http.Response, error) {
	env, err := s.NewEnvelope(event)
	if err != nil {
		return nil, err
	}
	return s.SendEnvelope(ctx, target, secret, env)
}

// SendEnvelope delivers (or, with RetryNum > 0, redelivers) an envelope,
// signed now.
func (s *Server) SendEnvelope(ctx context.Context, target, secret string, env Envelope) (*http.Response, error) {
	extra := http.Header{}
	if env.RetryNum > 0 {
		reason := env.RetryReason
		if reason == "" {
			reason = "http_error"
		}
		extra.Set("X-Slack-Retry-Num", strconv.Itoa(env.RetryNum))
		extra.Set("X-Slack-Retry-Reason", reason)
	}
	return s.SendSigned(ctx, target, secret, time.Now(), "application/json", env.Body, extra)
}

// SendURLVerification sends the url_verification handshake Slack performs
// when the Events request URL is saved; the app must echo challenge.
func (s *Server) SendURLVerification(ctx context.Context, target, secret, challenge string) (*http.Response, error) {
	body, err := json.Marshal(map[string]any{"token": s.verifyTok, "challenge": challenge, "type": "url_verification"})
	if err != nil {
		return nil, fmt.Errorf("slackfake: marshal url_verification: %w", err)
	}
	return s.SendSigned(ctx, target, secret, time.Now(), "application/json", body, nil)
}

// SendInteraction posts an interactivity payload (an [Interaction] or
// anything that marshals to one) form-encoded as payload=<json>, signed.
func (s *Server) SendInteraction(ctx context.Context, target, secret string, payload any) (*http.Response, error) {
	js, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("slackfake: marshal interaction: %w", err)
	}
	body := []byte(url.Values{"payload": {string(js)}}.Encode())
	return s.SendSigned(ctx, target, secret, time.Now(), "application/x-www-form-urlencoded", body, nil)
}

// SendSigned POSTs body signed as of at; a stale at or a wrong secret lets
// tests check that the server under test rejects forgeries and replays.
func (s *Server) SendSigned(ctx context.Context, target, secret string, at time.Time, contentType string, body []byte, extra http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("slackfake: build request: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	for k, v := range Sign(secret, at, body) {
		req.Header[k] = v
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("slackfake: deliver to %s: %w", target, err)
	}
	return resp, nil
}
