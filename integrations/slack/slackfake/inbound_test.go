package slackfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"policykit/integrations/slack/slackfake"
)

const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// delivery is what the receiving app saw of one request.
type delivery struct {
	header    http.Header
	body      []byte
	verifyErr error
	callback  slack.InteractionCallback // for form-encoded interactions
	parseErr  error
}

// newReceiver stands in for the server under test: it verifies each request
// the way production code must (slack.NewSecretsVerifier over the raw body),
// then parses interactions with slack.InteractionCallbackParse.
func newReceiver(t *testing.T) (string, <-chan delivery) {
	t.Helper()
	got := make(chan delivery, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d := delivery{header: r.Header.Clone(), body: body}
		sv, err := slack.NewSecretsVerifier(r.Header, signingSecret)
		if err == nil {
			_, _ = sv.Write(body)
			err = sv.Ensure()
		}
		d.verifyErr = err
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			r.Body = io.NopCloser(bytes.NewReader(body))
			d.callback, d.parseErr = slack.InteractionCallbackParse(r)
		}
		got <- d
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, got
}

func receive(t *testing.T, got <-chan delivery) delivery {
	t.Helper()
	select {
	case d := <-got:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("nothing delivered")
		return delivery{}
	}
}

func send(t *testing.T, w *world, target string, ev slackfake.Event) {
	t.Helper()
	resp, err := w.fake.SendEvent(context.Background(), target, signingSecret, ev)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestSignedEventsParse(t *testing.T) {
	tests := []struct {
		name  string
		act   func(t *testing.T, w *world) (slackfake.Event, error)
		check func(t *testing.T, w *world, inner any)
	}{
		{
			name: "plain message",
			act: func(t *testing.T, w *world) (slackfake.Event, error) {
				return w.fake.UserPosts(w.alice.ID, w.general.ID, "hello world")
			},
			check: func(t *testing.T, w *world, inner any) {
				m, ok := inner.(*slackevents.MessageEvent)
				if !ok || m.SubType != "" || m.User != w.alice.ID || m.Text != "hello world" || m.Channel != w.general.ID ||
					m.ChannelType != "channel" || m.TimeStamp == "" || m.BotID != "" {
					t.Fatalf("event = %#v", inner)
				}
				if got := w.fake.Messages(w.general.ID); len(got) != 1 || got[0].TS != m.TimeStamp {
					t.Fatalf("fake state = %+v", got)
				}
			},
		},
		{
			name: "channel renamed (channel_name subtype)",
			act: func(t *testing.T, w *world) (slackfake.Event, error) {
				return w.fake.UserRenames(w.bob.ID, w.random.ID, "watercooler")
			},
			check: func(t *testing.T, w *world, inner any) {
				m, ok := inner.(*slackevents.MessageEvent)
				if !ok || m.SubType != "channel_name" || m.User != w.bob.ID || m.Channel != w.random.ID ||
					m.Message.Name != "watercooler" || m.Message.OldName != "random" {
					t.Fatalf("event = %#v (message %#v)", inner, m.Message)
				}
				if c, _ := w.fake.Channel(w.random.ID); c.Name != "watercooler" {
					t.Fatalf("fake name = %q", c.Name)
				}
			},
		},
		{
			name: "topic set (channel_topic subtype)",
			act: func(t *testing.T, w *world) (slackfake.Event, error) {
				return w.fake.UserSetsTopic(w.alice.ID, w.random.ID, "no cats")
			},
			check: func(t *testing.T, w *world, inner any) {
				m, ok := inner.(*slackevents.MessageEvent)
				if !ok || m.SubType != "channel_topic" || m.User != w.alice.ID || m.Message.Topic != "no cats" {
					t.Fatalf("event = %#v", inner)
				}
			},
		},
		{
			name: "member joins on their own",
			act: func(t *testing.T, w *world) (slackfake.Event, error) {
				return w.fake.UserJoins(w.carol.ID, w.random.ID)
			},
			check: func(t *testing.T, w *world, inner any) {
				e, ok := inner.(*slackevents.MemberJoinedChannelEvent)
				if !ok || e.User != w.carol.ID || e.Channel != w.random.ID || e.Inviter != "" || e.ChannelType != "C" || e.Team != w.fake.TeamID() {
					t.Fatalf("event = %#v", inner)
				}
			},
		},
		{
			name: "member invited by another",
			act: func(t *testing.T, w *world) (slackfake.Event, error) {
				return w.fake.UserInvites(w.alice.ID, w.carol.ID, w.private.ID)
			},
			check: func(t *testing.T, w *world, inner any) {
				e, ok := inner.(*slackevents.MemberJoinedChannelEvent)
				if !ok || e.User != w.carol.ID || e.Inviter != w.alice.ID || e.ChannelType != "G" {
					t.Fatalf("event = %#v", inner)
				}
			},
		},
		{
			name: "message pinned",
			act: func(t *testing.T, w *world) (slackfake.Event, error) {
				ts := w.post(t, w.bob.ID, w.random.ID, "important")
				return w.fake.UserPins(w.alice.ID, w.random.ID, ts)
			},
			check: func(t *testing.T, w *world, inner any) {
				e, ok := inner.(*slackevents.PinAddedEvent)
				if !ok || e.User != w.alice.ID || e.Channel != w.random.ID || e.Item.Type != "message" || e.Item.Message == nil {
					t.Fatalf("event = %#v", inner)
				}
				if pins := w.fake.Pins(w.random.ID); len(pins) != 1 || pins[0] != e.Item.Message.Timestamp {
					t.Fatalf("pins %v, event ts %q", pins, e.Item.Message.Timestamp)
				}
			},
		},
		{
			name: "reaction added",
			act: func(t *testing.T, w *world) (slackfake.Event, error) {
				ts := w.post(t, w.bob.ID, w.random.ID, "vote?")
				return w.fake.UserReacts(w.alice.ID, w.random.ID, ts, "+1")
			},
			check: func(t *testing.T, w *world, inner any) {
				e, ok := inner.(*slackevents.ReactionAddedEvent)
				if !ok || e.User != w.alice.ID || e.Reaction != "+1" || e.ItemUser != w.bob.ID || e.Item.Channel != w.random.ID {
					t.Fatalf("event = %#v", inner)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			target, got := newReceiver(t)
			ev, err := tt.act(t, w)
			if err != nil {
				t.Fatal(err)
			}
			send(t, w, target, ev)
			d := receive(t, got)
			if d.verifyErr != nil {
				t.Fatalf("signature rejected: %v", d.verifyErr)
			}
			parsed, err := slackevents.ParseEvent(d.body, slackevents.OptionNoVerifyToken())
			if err != nil {
				t.Fatalf("ParseEvent: %v\n%s", err, d.body)
			}
			cb, ok := parsed.Data.(*slackevents.EventsAPICallbackEvent)
			if parsed.Type != slackevents.CallbackEvent || !ok || !strings.HasPrefix(cb.EventID, "Ev") ||
				parsed.TeamID != w.fake.TeamID() || parsed.APIAppID != w.fake.AppID() || cb.EventTime == 0 {
				t.Fatalf("envelope = %+v / %+v", parsed, parsed.Data)
			}
			tt.check(t, w, parsed.InnerEvent.Data)
		})
	}
}

func TestUserActionsAreRefusedLikeSlack(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name string
		act  func() (slackfake.Event, error)
		code string
	}{
		{"post without joining", func() (slackfake.Event, error) { return w.fake.UserPosts(w.carol.ID, w.random.ID, "x") }, "not_in_channel"},
		{"rename to a taken name", func() (slackfake.Event, error) { return w.fake.UserRenames(w.alice.ID, w.random.ID, "general") }, "name_taken"},
		{"join a private channel", func() (slackfake.Event, error) { return w.fake.UserJoins(w.bob.ID, w.private.ID) }, "channel_not_found"},
		{"join twice", func() (slackfake.Event, error) { return w.fake.UserJoins(w.alice.ID, w.random.ID) }, "already_in_channel"},
		{"pin a missing message", func() (slackfake.Event, error) { return w.fake.UserPins(w.alice.ID, w.random.ID, "1.000001") }, "message_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.act()
			var ae *slackfake.ActionError
			if !errors.As(err, &ae) || ae.Code != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
		})
	}
}

func TestRetriedDeliveryKeepsEventID(t *testing.T) {
	w := newWorld(t)
	target, got := newReceiver(t)
	ev, err := w.fake.UserPosts(w.alice.ID, w.general.ID, "hi")
	if err != nil {
		t.Fatal(err)
	}
	env, err := w.fake.NewEnvelope(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []slackfake.Envelope{env, env.Retry("http_timeout")} {
		resp, err := w.fake.SendEnvelope(context.Background(), target, signingSecret, e)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	first, retry := receive(t, got), receive(t, got)
	if first.header.Get("X-Slack-Retry-Num") != "" || retry.header.Get("X-Slack-Retry-Num") != "1" || retry.header.Get("X-Slack-Retry-Reason") != "http_timeout" {
		t.Fatalf("retry headers: first %v, retry %v", first.header, retry.header)
	}
	if first.verifyErr != nil || retry.verifyErr != nil || !bytes.Equal(first.body, retry.body) {
		t.Fatalf("retry differs or fails verification: %v %v", first.verifyErr, retry.verifyErr)
	}
	var outer struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(retry.body, &outer); err != nil || outer.EventID != env.EventID {
		t.Fatalf("event_id %q, want %q (%v)", outer.EventID, env.EventID, err)
	}
}

func TestURLVerification(t *testing.T) {
	w := newWorld(t)
	target, got := newReceiver(t)
	resp, err := w.fake.SendURLVerification(context.Background(), target, signingSecret, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d := receive(t, got)
	parsed, err := slackevents.ParseEvent(d.body, slackevents.OptionNoVerifyToken())
	if err != nil || d.verifyErr != nil {
		t.Fatalf("parse %v, verify %v", err, d.verifyErr)
	}
	uv, ok := parsed.Data.(*slackevents.EventsAPIURLVerificationEvent)
	if parsed.Type != slackevents.URLVerification || !ok || uv.Challenge != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("parsed = %+v", parsed)
	}
}

func TestForgedAndStaleRequestsFailVerification(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		at     time.Time
		want   error
	}{
		{name: "wrong secret", secret: "not-the-secret", at: time.Now(), want: slack.ErrInvalidSignature},
		{name: "stale timestamp", secret: signingSecret, at: time.Now().Add(-10 * time.Minute), want: slack.ErrExpiredTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			target, got := newReceiver(t)
			resp, err := w.fake.SendSigned(context.Background(), target, tt.secret, tt.at, "application/json", []byte(`{"type":"event_callback"}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if d := receive(t, got); !errors.Is(d.verifyErr, tt.want) {
				t.Fatalf("verify err = %v, want %v", d.verifyErr, tt.want)
			}
		})
	}
}

func TestSignedInteractionParses(t *testing.T) {
	w := newWorld(t)
	target, got := newReceiver(t)
	_, ts, err := w.bot().PostMessage(w.general.ID, slack.MsgOptionText("vote", false), slack.MsgOptionBlocks(voteBlocks()...))
	checkErr(t, err, "")
	click, err := w.fake.ClickButton(w.alice.ID, w.general.ID, ts, "vote_no", "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := w.fake.SendInteraction(context.Background(), target, signingSecret, click)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d := receive(t, got)
	if d.verifyErr != nil || d.parseErr != nil {
		t.Fatalf("verify %v, parse %v", d.verifyErr, d.parseErr)
	}
	cb := d.callback
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("callback = %+v", cb)
	}
	a := cb.ActionCallback.BlockActions[0]
	if a.ActionID != "vote_no" || a.Value != "no" || a.BlockID != "vote" || a.Text.Text != ":-1:" || a.Type != "button" {
		t.Fatalf("action = %+v", a)
	}
	if cb.User.ID != w.alice.ID || cb.Team.ID != w.fake.TeamID() || cb.Channel.ID != w.general.ID ||
		cb.Container.MessageTs != ts || cb.Container.ChannelID != w.general.ID || cb.Message.Timestamp != ts ||
		cb.ResponseURL != click.ResponseURL() || cb.APIAppID != w.fake.AppID() || len(cb.Message.Blocks.BlockSet) != 2 {
		t.Fatalf("callback = %+v", cb)
	}

	// A hand-built click parses the same way.
	manual := slackfake.ButtonClick{UserID: w.bob.ID, ChannelID: w.general.ID, MessageTS: ts, ActionID: "cast_vote", BlockID: "b1", Value: "yes"}.Payload()
	resp, err = w.fake.SendInteraction(context.Background(), target, signingSecret, manual)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d = receive(t, got)
	if d.parseErr != nil || len(d.callback.ActionCallback.BlockActions) != 1 || d.callback.ActionCallback.BlockActions[0].Value != "yes" {
		t.Fatalf("manual click: %v %+v", d.parseErr, d.callback)
	}
}

// TestEchoesParse checks that the events Slack would send back for the app's
// own API calls parse, and carry what a loop guard needs (bot_id, user).
func TestEchoesParse(t *testing.T) {
	w := newWorld(t)
	_, _, err := w.bot().PostMessage(w.general.ID, slack.MsgOptionText("from the bot", false))
	checkErr(t, err, "")
	_, err = w.admin().RenameConversation(w.random.ID, "watercooler")
	checkErr(t, err, "")
	checkErr(t, w.bot().KickUserFromConversation(w.random.ID, w.bob.ID), "")
	_, err = w.bot().InviteUsersToConversation(w.random.ID, w.bob.ID)
	checkErr(t, err, "")

	echoes := w.fake.Echoes()
	if len(w.fake.Echoes()) != 0 {
		t.Fatal("Echoes did not drain")
	}
	var types []string
	for _, ev := range echoes {
		body, err := w.fake.NewEnvelope(ev)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := slackevents.ParseEvent(body.Body, slackevents.OptionNoVerifyToken())
		if err != nil {
			t.Fatalf("ParseEvent(%s): %v", ev.Type(), err)
		}
		types = append(types, parsed.InnerEvent.Type)
		switch e := parsed.InnerEvent.Data.(type) {
		case *slackevents.MessageEvent:
			if e.SubType == "" && (e.BotID != w.fake.BotID() || e.User != w.fake.BotUserID()) {
				t.Fatalf("bot post echo = %#v", e)
			}
			if e.SubType == "channel_name" && (e.User != w.fake.AdminUserID() || e.Message.OldName != "random") {
				t.Fatalf("rename echo = %#v", e)
			}
		case *slackevents.MemberJoinedChannelEvent:
			if e.Inviter != w.fake.BotUserID() {
				t.Fatalf("invite echo = %#v", e)
			}
		}
	}
	want := "message message channel_rename member_left_channel member_joined_channel"
	if strings.Join(types, " ") != want {
		t.Fatalf("echo types = %v, want %s", types, want)
	}
}
