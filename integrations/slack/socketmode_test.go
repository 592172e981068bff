package slack_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"policykit/engine"
	"policykit/integrations/slack"
	"policykit/integrations/slack/slackfake"
)

// TestSocketModeConnection: over Socket Mode the app opens its connection with the app-level
// token, acknowledges each envelope once it is in the inbox, governs a redelivered event
// once, acknowledges event types it does not know, reconnects when Slack asks it to, and
// serves no HTTP endpoint (it has no signing secret to check them with).
func TestSocketModeConnection(t *testing.T) {
	w := newWorldOver(t, engine.KitEverythingPasses, socketMode)
	w.install()
	resp, err := http.Post(w.srv.URL+slack.EventsPath, "application/json", strings.NewReader(`{"type":"url_verification","challenge":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("events endpoint without a signing secret: %d", resp.StatusCode)
	}
	if n := w.fake.CallCount("apps.connections.open"); n != 1 {
		t.Fatalf("apps.connections.open called %d times", n)
	}
	if calls := w.fake.Calls("apps.connections.open"); calls[0].Token != w.fake.AppToken() {
		t.Fatal("the connection was not opened with the app-level token")
	}

	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, env := w.postEvent("alice", "over the socket")
	if err := w.fake.SendSocketEnvelope(c, env); err != nil {
		t.Fatal(err)
	}
	if err := w.fake.SendSocketEnvelope(c, env.Retry("timeout")); err != nil { // Slack's redelivery
		t.Fatal(err)
	}
	w.flush()
	if n := w.count("actions"); n != 1 {
		t.Fatalf("%d actions, want the event governed once", n)
	}
	if _, err := w.fake.SendSocketEvent(c, slackfake.Event{"type": "something_new", "event_ts": "1.4"}); err != nil {
		t.Fatalf("an event type slack-go does not know was not acknowledged: %v", err)
	}

	// Slack refreshes the connection: the app opens a new one and events keep flowing.
	w.fake.SocketDisconnect("refresh_requested")
	deadline := time.Now().Add(30 * time.Second)
	for w.fake.CallCount("apps.connections.open") < 2 || w.fake.SocketConnections() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnection: %d opens, %d connections", w.fake.CallCount("apps.connections.open"), w.fake.SocketConnections())
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.send(w.fake.UserRenames(w.users["bob"].ID, w.lounge.ID, "after-refresh"))
	if n := w.count("actions"); n != 2 {
		t.Fatalf("%d actions after the reconnection, want 2", n)
	}
}
