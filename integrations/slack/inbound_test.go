package slack_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"policykit/engine"
	"policykit/integrations/slack"
	"policykit/integrations/slack/slackfake"
)

// TestInboundRejectsBadRequests: forged, stale, tampered, malformed and oversized requests
// are refused before anything is recorded.
func TestInboundRejectsBadRequests(t *testing.T) {
	w := newWorld(t, engine.KitEverythingPasses)
	w.install()
	_, env := w.postEvent("alice", "hello")
	click := slackfake.ButtonClick{TeamID: w.fake.TeamID(), UserID: w.users["alice"].ID, ChannelID: w.general.ID, MessageTS: "1.2",
		ActionID: "pk_vote_yes", BlockID: "b", Value: "1:yes"}.Payload()
	form := func(payload string) []byte { return []byte(url.Values{"payload": {payload}}.Encode()) }
	events, interactions := w.srv.URL+slack.EventsPath, w.srv.URL+slack.InteractionsPath
	now := time.Now()
	tests := []struct {
		name    string
		target  string
		secret  string
		at      time.Time
		body    []byte
		headers func(h http.Header) // changes the signed headers
		want    int
	}{
		{name: "wrong secret", target: events, secret: "forged", at: now, body: env.Body, want: http.StatusUnauthorized},
		{name: "stale timestamp", target: events, secret: signingSecret, at: now.Add(-6 * time.Minute), body: env.Body, want: http.StatusUnauthorized},
		{name: "timestamp from the future", target: events, secret: signingSecret, at: now.Add(6 * time.Minute), body: env.Body, want: http.StatusUnauthorized},
		{name: "no signature", target: events, secret: signingSecret, at: now, body: env.Body, want: http.StatusUnauthorized,
			headers: func(h http.Header) { h.Del("X-Slack-Signature") }},
		{name: "signature of another body", target: events, secret: signingSecret, at: now, body: env.Body, want: http.StatusUnauthorized,
			headers: func(h http.Header) {
				h.Set("X-Slack-Signature", slackfake.Sign(signingSecret, now, []byte(`{"type":"event_callback"}`)).Get("X-Slack-Signature"))
			}},
		{name: "malformed json", target: events, secret: signingSecret, at: now, body: []byte(`{"type":"event_callback",`), want: http.StatusBadRequest},
		{name: "event without an id", target: events, secret: signingSecret, at: now, want: http.StatusBadRequest,
			body: []byte(`{"type":"event_callback","team_id":"` + w.fake.TeamID() + `","event":{"type":"message"}}`)},
		{name: "event without an inner event", target: events, secret: signingSecret, at: now, want: http.StatusBadRequest,
			body: []byte(`{"type":"event_callback","team_id":"` + w.fake.TeamID() + `","event_id":"Ev1"}`)},
		{name: "oversized event", target: events, secret: signingSecret, at: now, want: http.StatusRequestEntityTooLarge,
			body: []byte(`{"type":"event_callback","pad":"` + strings.Repeat("x", 300<<10) + `"}`)},
		{name: "forged click", target: interactions, secret: "forged", at: now, body: form(mustJSON(t, click)), want: http.StatusUnauthorized},
		{name: "stale click", target: interactions, secret: signingSecret, at: now.Add(-10 * time.Minute), body: form(mustJSON(t, click)), want: http.StatusUnauthorized},
		{name: "click without payload", target: interactions, secret: signingSecret, at: now, body: []byte("foo=bar"), want: http.StatusBadRequest},
		{name: "click payload not json", target: interactions, secret: signingSecret, at: now, body: form("{nope"), want: http.StatusBadRequest},
		{name: "click without a team", target: interactions, secret: signingSecret, at: now, body: form(`{"type":"block_actions"}`), want: http.StatusBadRequest},
		{name: "oversized click", target: interactions, secret: signingSecret, at: now, body: form(strings.Repeat("x", 300<<10)), want: http.StatusRequestEntityTooLarge},
	}
	before := w.count("inbound_deliveries")
	actions := w.count("actions")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, tt.target, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = slackfake.Sign(tt.secret, tt.at, tt.body)
			req.Header.Set("Content-Type", "application/json")
			if tt.target == interactions {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tt.headers != nil {
				tt.headers(req.Header)
			}
			resp, err := http.DefaultClient.Do(req)
			w.expect(resp, err, tt.want)
		})
	}
	w.flush()
	if n := w.count("inbound_deliveries"); n != before {
		t.Errorf("rejected requests recorded %d delivery keys", n-before)
	}
	if n := w.count("actions"); n != actions {
		t.Errorf("rejected requests created %d actions", n-actions)
	}
}

// TestInboundDeliveries: the URL handshake, Slack's retries and duplicates, replays of a
// signed request, and events nobody governs.
func TestInboundDeliveries(t *testing.T) {
	w := newWorld(t, engine.KitEverythingPasses)
	events := w.srv.URL + slack.EventsPath

	resp, err := w.fake.SendURLVerification(ctx, events, signingSecret, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("url_verification: %d %q", resp.StatusCode, body)
	}

	// Before the workspace is connected, its events govern nothing.
	w.send(w.fake.UserPosts(w.users["alice"].ID, w.general.ID, "too early"))
	if n := w.count("actions"); n != 0 {
		t.Fatalf("an unconnected workspace's event created %d actions", n)
	}
	w.install()

	ev, env := w.postEvent("alice", "hello")
	resp, err = w.fake.SendEnvelope(ctx, events, signingSecret, env)
	w.expect(resp, err, http.StatusOK)
	for _, retry := range []slackfake.Envelope{env.Retry("http_timeout"), env.Retry("http_timeout").Retry("http_error")} {
		resp, err = w.fake.SendEnvelope(ctx, events, signingSecret, retry)
		w.expect(resp, err, http.StatusOK)
	}
	// The exact same signed request again is a replay, not a retry.
	at := time.Now()
	replayed, err := w.fake.NewEnvelope(ev)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = w.fake.SendSigned(ctx, events, signingSecret, at, "application/json", replayed.Body, nil)
	w.expect(resp, err, http.StatusOK)
	resp, err = w.fake.SendSigned(ctx, events, signingSecret, at, "application/json", replayed.Body, nil)
	w.expect(resp, err, http.StatusUnauthorized)
	w.flush()
	var posts int64
	w.store.DB().Table("actions").Where("type = ?", slack.TypePostMessage).Count(&posts)
	if posts != 2 { // env once (despite two retries), replayed once
		t.Fatalf("%d post actions, want 2", posts)
	}

	// Events we do not govern are acknowledged and dropped.
	for _, e := range []slackfake.Event{
		{"type": "reaction_added", "user": w.users["bob"].ID, "reaction": "+1", "item": map[string]any{"type": "message", "channel": w.general.ID, "ts": ev.TS()}, "event_ts": "1.1"},
		{"type": "message", "subtype": "message_changed", "channel": w.general.ID, "hidden": true, "ts": "1.2", "event_ts": "1.2"},
		{"type": "message", "channel": "D0000001", "channel_type": "im", "user": w.users["bob"].ID, "text": "psst", "ts": "1.3"},
		{"type": "something_new", "event_ts": "1.4"},
	} {
		w.send(e, nil)
	}
	if n := w.count("actions"); n != 2 {
		t.Fatalf("ungoverned events created actions: %d", n)
	}
}

// TestInboundBackpressure: a full queue answers 503 without keeping the event id, so
// Slack's retry is taken once there is room; a stopped receiver refuses new work.
func TestInboundBackpressure(t *testing.T) {
	w := newWorld(t, engine.KitEverythingPasses)
	w.install()
	in := slack.NewInbound(w.slack, w.eng, slack.InboundOptions{Workers: 1, QueueSize: 1})
	srv := httptest.NewServer(http.HandlerFunc(in.ServeEvents))
	defer srv.Close()
	envs := make([]slackfake.Envelope, 2)
	for i := range envs {
		ev, err := w.fake.UserPosts(w.users["bob"].ID, w.general.ID, "queued")
		if err != nil {
			t.Fatal(err)
		}
		if envs[i], err = w.fake.NewEnvelope(ev); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := w.fake.SendEnvelope(ctx, srv.URL, signingSecret, envs[0])
	w.expect(resp, err, http.StatusOK) // queued; no worker runs yet
	resp, err = w.fake.SendEnvelope(ctx, srv.URL, signingSecret, envs[1])
	w.expect(resp, err, http.StatusServiceUnavailable)
	in.Start(ctx)
	if err := in.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err = w.fake.SendEnvelope(ctx, srv.URL, signingSecret, envs[1].Retry("http_error"))
	w.expect(resp, err, http.StatusOK)
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := w.count("actions"); n != 2 {
		t.Fatalf("%d actions, want both events governed once", n)
	}
	late, err := w.fake.UserPosts(w.users["bob"].ID, w.general.ID, "after shutdown")
	if err != nil {
		t.Fatal(err)
	}
	resp, err = w.fake.SendEvent(ctx, srv.URL, signingSecret, late)
	w.expect(resp, err, http.StatusServiceUnavailable)
	var keys int64
	w.store.DB().Table("inbound_deliveries").Where("dedupe_key LIKE 'event:%'").Count(&keys)
	if keys != 2 {
		t.Fatalf("%d event ids kept, want only the two governed ones", keys)
	}
}

// TestOwnEchoesOnly: the admin's token is also the admin's own; an event matching a call we
// made is ignored once, but the admin doing the same thing by hand is governed.
func TestOwnEchoesOnly(t *testing.T) {
	w := newWorld(t, engine.KitJury)
	w.install()
	w.send(w.fake.UserRenames(w.users["alice"].ID, w.general.ID, "lobby"))
	w.deliver()
	echoes := w.fake.Echoes()
	var renameEcho slackfake.Event
	for _, e := range echoes {
		if e["subtype"] == "channel_name" {
			renameEcho = e
		}
	}
	if renameEcho == nil || renameEcho["user"] != w.fake.AdminUserID() {
		t.Fatalf("no echo of the rename back by the admin: %v", echoes)
	}
	w.send(renameEcho, nil)
	if n := w.count("actions"); n != 1 {
		t.Fatalf("our rename back was governed: %d actions", n)
	}
	// The same event again (not a retry: a new event id) is no longer excused.
	w.send(renameEcho, nil)
	if n := w.count("actions"); n != 2 {
		t.Fatalf("a second, unexplained rename by the admin was not governed: %d actions", n)
	}
	raw, _ := json.Marshal(renameEcho)
	if !strings.Contains(string(raw), "general") {
		t.Fatalf("echo %s", raw)
	}
}

// TestTwoReplicas: two server processes on one database each receive the same event (a
// retry routed to the other replica); it is governed once.
func TestTwoReplicas(t *testing.T) {
	w := newWorld(t, engine.KitEverythingPasses)
	w.install()
	other := slack.NewInbound(w.slack, w.eng, slack.InboundOptions{Workers: 1})
	other.Start(ctx)
	srv := httptest.NewServer(http.HandlerFunc(other.ServeEvents))
	defer srv.Close()
	_, env := w.postEvent("dave", "one event, two replicas")
	resp, err := w.fake.SendEnvelope(ctx, w.srv.URL+slack.EventsPath, signingSecret, env)
	w.expect(resp, err, http.StatusOK)
	resp, err = w.fake.SendEnvelope(ctx, srv.URL, signingSecret, env.Retry("http_timeout"))
	w.expect(resp, err, http.StatusOK)
	w.flush()
	if err := other.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := w.count("actions"); n != 1 {
		t.Fatalf("%d actions, want the event governed once", n)
	}
}

// TestAcceptedEventsSurviveACrash: an event is in the inbox before Slack hears it was
// received, so one acknowledged by a process that died before processing it is taken up
// once its claim expires, and governed once.
func TestAcceptedEventsSurviveACrash(t *testing.T) {
	w := newWorld(t, engine.KitEverythingPasses)
	w.install()
	// Two processes on the test clock: one accepts deliveries but dies before its workers
	// run; the other is the process after the restart.
	clocked := slack.New(w.store, slack.Config{ClientID: clientID, ClientSecret: clientSecret, SigningSecret: signingSecret,
		APIURL: w.fake.APIURL(), BaseURL: w.srv.URL, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: w.clock.Now})
	crashed := slack.NewInbound(clocked, w.eng, slack.InboundOptions{Workers: 1})
	restarted := slack.NewInbound(clocked, w.eng, slack.InboundOptions{Workers: 1})
	restarted.Start(ctx)
	defer func() {
		if err := restarted.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	dead := httptest.NewServer(http.HandlerFunc(crashed.ServeEvents))
	defer dead.Close()
	_, env := w.postEvent("alice", "said before the crash")
	resp, err := w.fake.SendEnvelope(ctx, dead.URL, signingSecret, env)
	w.expect(resp, err, http.StatusOK)
	posts := func() int64 {
		var n int64
		w.store.DB().Table("actions").Where("type = ?", slack.TypePostMessage).Count(&n)
		return n
	}
	if n := posts(); n != 0 {
		t.Fatalf("%d actions before any worker ran", n)
	}
	// Slack's retry reaches the live process: it is a duplicate of an accepted event.
	resp, err = w.fake.SendEnvelope(ctx, w.srv.URL+slack.EventsPath, signingSecret, env.Retry("http_timeout"))
	w.expect(resp, err, http.StatusOK)
	steps := []struct {
		advance time.Duration
		queued  int
		posts   int64
	}{
		{0, 0, 0},               // still claimed by the dead process
		{2 * time.Minute, 1, 1}, // its claim expired: taken up and governed
		{2 * time.Minute, 0, 1}, // processed: never again
	}
	for i, s := range steps {
		w.clock.Advance(s.advance)
		n, err := restarted.Recover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := restarted.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n != s.queued || posts() != s.posts {
			t.Fatalf("step %d: recovered %d, %d post actions; want %d, %d", i, n, posts(), s.queued, s.posts)
		}
	}
}

// TestInboundReplayWithRecasedSignature: a captured "yes" click, replayed after the voter
// changed to "no" with the signature's hex in upper case (which still verifies), is refused
// as a replay and the vote stays "no".
func TestInboundReplayWithRecasedSignature(t *testing.T) {
	w := newWorld(t, engine.KitEverythingPasses)
	w.install()
	w.addPolicy(map[string]any{
		"kind": "platform", "name": "Posts need three yes", "action_types": []any{slack.TypePostMessage}, "priority": 5,
		"notify": `start_vote("yes_no")`, "check": `yes() >= 3 ? PASSED : PENDING`,
	})
	ev, err := w.fake.UserPosts(w.users["alice"].ID, w.general.ID, "Hi")
	w.send(ev, err)
	_, p := w.lastAction(slack.TypePostMessage)
	w.deliver()
	ballot := w.ballotMessage(w.proposal(p.ID).Ballot.Refs["channel"])
	bob := w.users["bob"].ID

	yes, err := w.fake.ClickButton(bob, ballot.Channel, ballot.TS, "pk_vote_yes", "")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(url.Values{"payload": {mustJSON(t, yes)}}.Encode())
	at := time.Now()
	target := w.srv.URL + slack.InteractionsPath
	resp, err := w.fake.SendSigned(ctx, target, signingSecret, at, "application/x-www-form-urlencoded", body, nil)
	w.expect(resp, err, http.StatusOK)
	w.flush()
	w.click(bob, ballot.Channel, ballot.TS, "pk_vote_no")

	sig := slackfake.Sign(signingSecret, at, body).Get("X-Slack-Signature")
	for _, recased := range []string{"v0=" + strings.ToUpper(strings.TrimPrefix(sig, "v0=")), sig} {
		resp, err = w.fake.SendSigned(ctx, target, signingSecret, at, "application/x-www-form-urlencoded", body,
			http.Header{"X-Slack-Signature": {recased}})
		w.expect(resp, err, http.StatusUnauthorized)
	}
	w.flush()
	votes, err := w.store.VotesOf(ctx, []int64{p.ID})
	if err != nil {
		t.Fatal(err)
	}
	if vs := votes[p.ID]; len(vs) != 1 || vs[0].Value != `"no"` {
		t.Fatalf("votes after the replay: %+v, want bob's one vote \"no\"", vs)
	}
}
