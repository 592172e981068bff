package slackfake_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
)

// TestSocketModeHandshake: only the app-level token opens a connection; its URL works once
// and only from Slack's client origin; the fake says hello, pings, and counts an envelope
// delivered only once the app acknowledges it.
func TestSocketModeHandshake(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if _, _, err := slack.New(w.fake.BotToken(), slack.OptionAPIURL(w.fake.APIURL())).StartSocketModeContext(ctx); err == nil ||
		!strings.Contains(err.Error(), "not_allowed_token_type") {
		t.Fatalf("a bot token opened Socket Mode: %v", err)
	}
	w.fake.SetSocketPingInterval(20 * time.Millisecond)
	app := slack.New("", slack.OptionAppLevelToken(w.fake.AppToken()), slack.OptionAPIURL(w.fake.APIURL()))
	_, link, err := app.StartSocketModeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, resp, err := websocket.DefaultDialer.Dial(link, http.Header{"Origin": {"https://evil.example"}}); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another origin was upgraded: %v", err)
	}
	_, link, _ = app.StartSocketModeContext(ctx)
	conn, _, err := websocket.DefaultDialer.Dial(link, http.Header{"Origin": {"https://api.slack.com"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, resp, err := websocket.DefaultDialer.Dial(link, http.Header{"Origin": {"https://api.slack.com"}}); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a used URL was accepted again: %v", err)
	}
	pinged := make(chan struct{}, 1)
	conn.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return nil
	})
	var hello struct{ Type string }
	if err := conn.ReadJSON(&hello); err != nil || hello.Type != "hello" {
		t.Fatalf("first frame %+v %v", hello, err)
	}
	sent := make(chan error, 1)
	go func() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := w.fake.SendSocketEvent(c, map[string]any{"type": "message", "channel": w.general.ID, "user": w.alice.ID, "text": "hi", "ts": "1.1"})
		sent <- err
	}()
	var env struct {
		EnvelopeID string `json:"envelope_id"`
		Type       string
	}
	if err := conn.ReadJSON(&env); err != nil || env.Type != "events_api" || env.EnvelopeID == "" {
		t.Fatalf("envelope %+v %v", env, err)
	}
	select {
	case err := <-sent:
		t.Fatalf("delivered before the acknowledgement: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := conn.WriteJSON(map[string]string{"envelope_id": env.EnvelopeID}); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("acknowledged envelope: %v", err)
	}
	go func() { _, _, _ = conn.ReadMessage() }() // control frames are handled while reading
	select {
	case <-pinged:
	case <-time.After(2 * time.Second):
		t.Fatal("the fake does not ping")
	}
}
