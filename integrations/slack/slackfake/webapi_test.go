package slackfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"policykit/integrations/slack/slackfake"
)

func voteBlocks() []slack.Block {
	return []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "Rename #random to #watercooler?", false, false), nil, nil),
		slack.NewActionBlock("vote",
			slack.NewButtonBlockElement("vote_yes", "yes", slack.NewTextBlockObject("plain_text", ":+1:", true, false)),
			slack.NewButtonBlockElement("vote_no", "no", slack.NewTextBlockObject("plain_text", ":-1:", true, false)),
		),
	}
}

func TestPostMessage(t *testing.T) {
	dupBlocks := []slack.Block{
		slack.NewDividerBlock(), slack.NewDividerBlock(),
	}
	dupBlocks[0].(*slack.DividerBlock).BlockID = "same"
	dupBlocks[1].(*slack.DividerBlock).BlockID = "same"

	tests := []struct {
		name    string
		token   func(w *world) string
		channel func(w *world) string
		opts    []slack.MsgOption
		wantErr string
		check   func(t *testing.T, w *world, channel, ts string)
	}{
		{
			name:    "bot posts text in a channel it is in",
			token:   func(w *world) string { return w.fake.BotToken() },
			channel: func(w *world) string { return w.general.ID },
			opts:    []slack.MsgOption{slack.MsgOptionText("hello", false)},
			check: func(t *testing.T, w *world, channel, ts string) {
				m, ok := w.fake.Message(channel, ts)
				if !ok || m.Text != "hello" || m.BotID != w.fake.BotID() || m.User != w.fake.BotUserID() {
					t.Fatalf("stored message = %+v, %v", m, ok)
				}
			},
		},
		{
			name:    "bot posts blocks in a thread, block ids filled in",
			token:   func(w *world) string { return w.fake.BotToken() },
			channel: func(w *world) string { return w.general.ID },
			opts: []slack.MsgOption{
				slack.MsgOptionText("vote", false), slack.MsgOptionTS("1600000000.000100"),
				slack.MsgOptionBlocks(slack.NewDividerBlock()),
			},
			check: func(t *testing.T, w *world, channel, ts string) {
				m, _ := w.fake.Message(channel, ts)
				var blocks []map[string]any
				if err := json.Unmarshal(m.Blocks, &blocks); err != nil || len(blocks) != 1 || blocks[0]["block_id"] == "" {
					t.Fatalf("blocks = %s (%v)", m.Blocks, err)
				}
				if m.ThreadTS != "1600000000.000100" {
					t.Fatalf("thread_ts = %q", m.ThreadTS)
				}
			},
		},
		{
			name:    "bot may post in a public channel it has not joined",
			token:   func(w *world) string { return w.fake.BotToken() },
			channel: func(w *world) string { return w.lounge.ID },
			opts:    []slack.MsgOption{slack.MsgOptionText("hi", false)},
		},
		{
			name:    "channel given by name",
			token:   func(w *world) string { return w.fake.BotToken() },
			channel: func(w *world) string { return "#random" },
			opts:    []slack.MsgOption{slack.MsgOptionText("hi", false)},
			check: func(t *testing.T, w *world, channel, ts string) {
				if channel != w.random.ID {
					t.Fatalf("channel = %s, want %s", channel, w.random.ID)
				}
			},
		},
		{
			name:    "user id opens a DM",
			token:   func(w *world) string { return w.fake.BotToken() },
			channel: func(w *world) string { return w.alice.ID },
			opts:    []slack.MsgOption{slack.MsgOptionText("you cannot vote", false)},
			check: func(t *testing.T, w *world, channel, ts string) {
				c, ok := w.fake.Channel(channel)
				if !strings.HasPrefix(channel, "D") || !ok || !c.IsIM || !slices.Contains(c.Members, w.alice.ID) {
					t.Fatalf("DM channel %s = %+v", channel, c)
				}
				if len(w.fake.Messages(channel)) != 1 {
					t.Fatalf("messages in DM = %v", w.fake.Messages(channel))
				}
			},
		},
		{
			name:    "user may not post where they are not a member",
			token:   func(w *world) string { return w.fake.UserToken(w.carol.ID) },
			channel: func(w *world) string { return w.random.ID },
			opts:    []slack.MsgOption{slack.MsgOptionText("hi", false)},
			wantErr: "not_in_channel",
		},
		{
			name:    "private channel is invisible to non-members",
			token:   func(w *world) string { return w.fake.AdminToken() },
			channel: func(w *world) string { return w.private.ID },
			opts:    []slack.MsgOption{slack.MsgOptionText("hi", false)},
			wantErr: "channel_not_found",
		},
		{
			name:    "no text and no blocks",
			token:   func(w *world) string { return w.fake.BotToken() },
			channel: func(w *world) string { return w.general.ID },
			wantErr: "no_text",
		},
		{
			name:    "duplicate block ids are rejected",
			token:   func(w *world) string { return w.fake.BotToken() },
			channel: func(w *world) string { return w.general.ID },
			opts:    []slack.MsgOption{slack.MsgOptionBlocks(dupBlocks...)},
			wantErr: "invalid_blocks",
		},
		{
			name:    "missing token",
			token:   func(w *world) string { return "" },
			channel: func(w *world) string { return w.general.ID },
			opts:    []slack.MsgOption{slack.MsgOptionText("hi", false)},
			wantErr: "not_authed",
		},
		{
			name:    "unknown token",
			token:   func(w *world) string { return "xoxb-not-a-token" },
			channel: func(w *world) string { return w.general.ID },
			opts:    []slack.MsgOption{slack.MsgOptionText("hi", false)},
			wantErr: "invalid_auth",
		},
		{
			name: "revoked token",
			token: func(w *world) string {
				tok := w.fake.UserToken(w.alice.ID)
				w.fake.RevokeToken(tok)
				return tok
			},
			channel: func(w *world) string { return w.general.ID },
			opts:    []slack.MsgOption{slack.MsgOptionText("hi", false)},
			wantErr: "token_revoked",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			channel, ts, err := w.client(tt.token(w)).PostMessageContext(context.Background(), tt.channel(w), tt.opts...)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != "" {
				if n := len(w.fake.Messages(tt.channel(w))); n != 0 {
					t.Fatalf("failed call stored %d messages", n)
				}
				return
			}
			if !strings.Contains(ts, ".") || channel == "" {
				t.Fatalf("channel, ts = %q, %q", channel, ts)
			}
			if tt.check != nil {
				tt.check(t, w, channel, ts)
			}
		})
	}
}

func TestPostMessageRepliesWithMessage(t *testing.T) {
	w := newWorld(t)
	// slack-go does not expose the "message" object, so read the wire reply.
	resp, err := http.PostForm(w.fake.APIURL()+"chat.postMessage", url.Values{
		"token": {w.fake.BotToken()}, "channel": {w.general.ID}, "text": {"hello"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		OK      bool   `json:"ok"`
		Channel string `json:"channel"`
		TS      string `json:"ts"`
		Message struct {
			Type, Text, TS, BotID string
		} `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !got.OK || got.Channel != w.general.ID || got.Message.Type != "message" || got.Message.Text != "hello" || got.Message.TS != got.TS {
		t.Fatalf("reply = %+v", got)
	}
}

func TestUpdateMessage(t *testing.T) {
	tests := []struct {
		name    string
		token   func(w *world) string
		ts      func(t *testing.T, w *world) string
		wantErr string
	}{
		{
			name:  "bot edits its own message",
			token: func(w *world) string { return w.fake.BotToken() },
			ts: func(t *testing.T, w *world) string {
				_, ts, err := w.bot().PostMessage(w.general.ID, slack.MsgOptionText("vote open", false), slack.MsgOptionBlocks(voteBlocks()...))
				checkErr(t, err, "")
				return ts
			},
		},
		{
			name:  "admin cannot edit the bot's message",
			token: func(w *world) string { return w.fake.AdminToken() },
			ts: func(t *testing.T, w *world) string {
				_, ts, err := w.bot().PostMessage(w.general.ID, slack.MsgOptionText("vote open", false))
				checkErr(t, err, "")
				return ts
			},
			wantErr: "cant_update_message",
		},
		{
			name:    "unknown message",
			token:   func(w *world) string { return w.fake.BotToken() },
			ts:      func(t *testing.T, w *world) string { return "1.000001" },
			wantErr: "message_not_found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			ts := tt.ts(t, w)
			ch, gotTS, text, err := w.client(tt.token(w)).UpdateMessage(w.general.ID, ts,
				slack.MsgOptionText("vote closed", false), slack.MsgOptionBlocks())
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != "" {
				return
			}
			if ch != w.general.ID || gotTS != ts || text != "vote closed" {
				t.Fatalf("reply = %q %q %q", ch, gotTS, text)
			}
			m, _ := w.fake.Message(w.general.ID, ts)
			if m.Text != "vote closed" || m.Blocks != nil || !m.Edited {
				t.Fatalf("stored = %+v, want text replaced and blocks cleared", m)
			}
		})
	}
}

func TestDeleteMessage(t *testing.T) {
	tests := []struct {
		name    string
		author  func(t *testing.T, w *world) string // posts, returns ts
		token   func(w *world) string
		wantErr string
	}{
		{
			name: "bot deletes its own message",
			author: func(t *testing.T, w *world) string {
				_, ts, err := w.bot().PostMessage(w.random.ID, slack.MsgOptionText("x", false))
				checkErr(t, err, "")
				return ts
			},
			token: func(w *world) string { return w.fake.BotToken() },
		},
		{
			name:    "bot cannot delete a member's message",
			author:  func(t *testing.T, w *world) string { return w.post(t, w.alice.ID, w.random.ID, "spam") },
			token:   func(w *world) string { return w.fake.BotToken() },
			wantErr: "cant_delete_message",
		},
		{
			name:   "admin deletes a member's message",
			author: func(t *testing.T, w *world) string { return w.post(t, w.alice.ID, w.random.ID, "spam") },
			token:  func(w *world) string { return w.fake.AdminToken() },
		},
		{
			name:   "member deletes their own message",
			author: func(t *testing.T, w *world) string { return w.post(t, w.alice.ID, w.random.ID, "oops") },
			token:  func(w *world) string { return w.fake.UserToken(w.alice.ID) },
		},
		{
			name:    "member cannot delete another's message",
			author:  func(t *testing.T, w *world) string { return w.post(t, w.alice.ID, w.random.ID, "mine") },
			token:   func(w *world) string { return w.fake.UserToken(w.bob.ID) },
			wantErr: "cant_delete_message",
		},
		{
			name:    "unknown message",
			author:  func(t *testing.T, w *world) string { return "1700009999.000100" },
			token:   func(w *world) string { return w.fake.AdminToken() },
			wantErr: "message_not_found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			ts := tt.author(t, w)
			before := len(w.fake.Messages(w.random.ID))
			ch, gotTS, err := w.client(tt.token(w)).DeleteMessage(w.random.ID, ts)
			checkErr(t, err, tt.wantErr)
			after := len(w.fake.Messages(w.random.ID))
			if tt.wantErr != "" {
				if after != before {
					t.Fatalf("failed delete changed history: %d → %d", before, after)
				}
				return
			}
			if ch != w.random.ID || gotTS != ts {
				t.Fatalf("reply = %q %q", ch, gotTS)
			}
			if _, ok := w.fake.Message(w.random.ID, ts); ok || after != before-1 {
				t.Fatalf("message still there")
			}
		})
	}
}

func TestPostEphemeral(t *testing.T) {
	tests := []struct {
		name    string
		user    func(w *world) string
		wantErr string
	}{
		{name: "member sees it", user: func(w *world) string { return w.alice.ID }},
		{name: "user not in channel", user: func(w *world) string { return w.carol.ID }, wantErr: "user_not_in_channel"},
		{name: "unknown user", user: func(w *world) string { return "U0NOBODY0" }, wantErr: "user_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			ts, err := w.bot().PostEphemeral(w.general.ID, tt.user(w), slack.MsgOptionText("you are not eligible to vote", false))
			checkErr(t, err, tt.wantErr)
			eph := w.fake.Ephemerals()
			if tt.wantErr != "" {
				if len(eph) != 0 {
					t.Fatalf("ephemerals = %v", eph)
				}
				return
			}
			if ts == "" || len(eph) != 1 || eph[0].User != tt.user(w) || eph[0].TS != ts || eph[0].PostedBy != w.fake.BotUserID() {
				t.Fatalf("ts %q, ephemerals %+v", ts, eph)
			}
		})
	}
}

func TestRenameConversation(t *testing.T) {
	tests := []struct {
		name    string
		token   func(w *world) string
		channel func(w *world) string
		newName string
		wantErr string
	}{
		{name: "admin renames", token: adminTok, channel: randomID, newName: "watercooler"},
		{name: "unicode letters are fine", token: adminTok, channel: randomID, newName: "café-talk"},
		{name: "name taken", token: adminTok, channel: randomID, newName: "general", wantErr: "name_taken"},
		{name: "upper case and spaces", token: adminTok, channel: randomID, newName: "Water Cooler", wantErr: "invalid_name_specials"},
		{name: "empty", token: adminTok, channel: randomID, newName: "", wantErr: "invalid_name_required"},
		{name: "punctuation only", token: adminTok, channel: randomID, newName: "--", wantErr: "invalid_name_punctuation"},
		{name: "too long", token: adminTok, channel: randomID, newName: strings.Repeat("a", 81), wantErr: "invalid_name_maxlength"},
		{name: "bot is neither creator nor admin", token: botTok, channel: randomID, newName: "x", wantErr: "not_authorized"},
		{name: "member is neither creator nor admin", token: func(w *world) string { return w.fake.UserToken(w.bob.ID) }, channel: randomID, newName: "x", wantErr: "not_authorized"},
		{name: "unknown channel", token: adminTok, channel: func(*world) string { return "C0NOPE000" }, newName: "x", wantErr: "channel_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			ch, err := w.client(tt.token(w)).RenameConversation(tt.channel(w), tt.newName)
			checkErr(t, err, tt.wantErr)
			got, _ := w.fake.Channel(w.random.ID)
			if tt.wantErr != "" {
				if got.Name != "random" {
					t.Fatalf("failed rename changed name to %q", got.Name)
				}
				return
			}
			if ch.ID != w.random.ID || ch.Name != tt.newName || got.Name != tt.newName || !slices.Equal(got.PreviousNames, []string{"random"}) {
				t.Fatalf("reply %+v, state %+v", ch, got)
			}
		})
	}

	t.Run("creator may rename", func(t *testing.T) {
		w := newWorld(t)
		mine := w.fake.AddChannel(slackfake.Channel{Name: "alices", Creator: w.alice.ID, Members: []string{w.alice.ID}})
		_, err := w.as(w.alice).RenameConversation(mine.ID, "alices-place")
		checkErr(t, err, "")
	})
}

func adminTok(w *world) string { return w.fake.AdminToken() }
func botTok(w *world) string   { return w.fake.BotToken() }
func randomID(w *world) string { return w.random.ID }

func TestSetTopicOfConversation(t *testing.T) {
	tests := []struct {
		name    string
		token   func(w *world) string
		channel func(w *world) string
		topic   string
		wantErr string
	}{
		{name: "member sets topic", token: adminTok, channel: randomID, topic: "all things random"},
		{name: "bot in channel sets topic", token: botTok, channel: randomID, topic: "governed"},
		{name: "not in channel", token: botTok, channel: func(w *world) string { return w.lounge.ID }, topic: "x", wantErr: "not_in_channel"},
		{name: "too long", token: adminTok, channel: randomID, topic: strings.Repeat("x", 251), wantErr: "too_long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			ch, err := w.client(tt.token(w)).SetTopicOfConversation(tt.channel(w), tt.topic)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != "" {
				return
			}
			got, _ := w.fake.Channel(tt.channel(w))
			if ch.Topic.Value != tt.topic || got.Topic != tt.topic {
				t.Fatalf("reply topic %q, state %q", ch.Topic.Value, got.Topic)
			}
		})
	}
}

func TestKickUserFromConversation(t *testing.T) {
	tests := []struct {
		name    string
		token   func(w *world) string
		channel func(w *world) string
		user    func(w *world) string
		wantErr string
	}{
		{name: "bot kicks a member", token: botTok, channel: randomID, user: func(w *world) string { return w.bob.ID }},
		{name: "admin kicks a member", token: adminTok, channel: randomID, user: func(w *world) string { return w.bob.ID }},
		{name: "cannot kick self", token: botTok, channel: randomID, user: func(w *world) string { return w.fake.BotUserID() }, wantErr: "cant_kick_self"},
		{name: "user not in channel", token: botTok, channel: randomID, user: func(w *world) string { return w.carol.ID }, wantErr: "not_in_channel"},
		{name: "nobody leaves #general", token: adminTok, channel: func(w *world) string { return w.general.ID }, user: func(w *world) string { return w.bob.ID }, wantErr: "cant_kick_from_general"},
		{name: "unknown user", token: botTok, channel: randomID, user: func(*world) string { return "U0NOBODY0" }, wantErr: "user_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			before, _ := w.fake.Channel(tt.channel(w))
			err := w.client(tt.token(w)).KickUserFromConversation(tt.channel(w), tt.user(w))
			checkErr(t, err, tt.wantErr)
			after, _ := w.fake.Channel(tt.channel(w))
			wantMembers := len(before.Members)
			if tt.wantErr == "" {
				wantMembers--
				if slices.Contains(after.Members, tt.user(w)) {
					t.Fatalf("%s still a member", tt.user(w))
				}
			}
			if len(after.Members) != wantMembers {
				t.Fatalf("members %v → %v", before.Members, after.Members)
			}
		})
	}

	t.Run("workspace forbids apps to kick; admin token still works", func(t *testing.T) {
		w := newWorld(t)
		w.fake.RestrictBot("conversations.kick", "restricted_action")
		checkErr(t, w.bot().KickUserFromConversation(w.random.ID, w.bob.ID), "restricted_action")
		checkErr(t, w.admin().KickUserFromConversation(w.random.ID, w.bob.ID), "")
	})
}

func TestInviteUsersToConversation(t *testing.T) {
	tests := []struct {
		name    string
		token   func(w *world) string
		channel func(w *world) string
		users   func(w *world) []string
		wantErr string
	}{
		{name: "bot invites", token: botTok, channel: randomID, users: func(w *world) []string { return []string{w.carol.ID} }},
		{name: "already in channel", token: botTok, channel: randomID, users: func(w *world) []string { return []string{w.alice.ID} }, wantErr: "already_in_channel"},
		{name: "one bad user fails the call", token: botTok, channel: randomID, users: func(w *world) []string { return []string{w.carol.ID, "U0NOBODY0"} }, wantErr: "user_not_found"},
		{name: "inviter must be in the channel", token: botTok, channel: func(w *world) string { return w.lounge.ID }, users: func(w *world) []string { return []string{w.carol.ID} }, wantErr: "not_in_channel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			ch, err := w.client(tt.token(w)).InviteUsersToConversation(tt.channel(w), tt.users(w)...)
			checkErr(t, err, tt.wantErr)
			got, _ := w.fake.Channel(tt.channel(w))
			if slices.Contains(got.Members, w.carol.ID) != (tt.wantErr == "") {
				t.Fatalf("carol membership wrong after err=%v: %v", err, got.Members)
			}
			if tt.wantErr == "" && ch.ID != tt.channel(w) {
				t.Fatalf("reply channel %q", ch.ID)
			}
		})
	}
}

func TestPins(t *testing.T) {
	w := newWorld(t)
	ts := w.post(t, w.alice.ID, w.random.ID, "pin me")
	ref := slack.NewRefToMessage(w.random.ID, ts)
	steps := []struct {
		name     string
		call     func() error
		wantErr  string
		wantPins []string
	}{
		{"add", func() error { return w.bot().AddPin(w.random.ID, ref) }, "", []string{ts}},
		{"add again", func() error { return w.bot().AddPin(w.random.ID, ref) }, "already_pinned", []string{ts}},
		{"remove", func() error { return w.bot().RemovePin(w.random.ID, ref) }, "", nil},
		{"remove again", func() error { return w.bot().RemovePin(w.random.ID, ref) }, "no_pin", nil},
		{"add unknown message", func() error {
			return w.bot().AddPin(w.random.ID, slack.NewRefToMessage(w.random.ID, "1.000001"))
		}, "message_not_found", nil},
	}
	for _, st := range steps {
		checkErr(t, st.call(), st.wantErr)
		if got := w.fake.Pins(w.random.ID); !slices.Equal(got, st.wantPins) {
			t.Fatalf("%s: pins = %v, want %v", st.name, got, st.wantPins)
		}
	}
}

func TestReactions(t *testing.T) {
	w := newWorld(t)
	_, ts, err := w.bot().PostMessage(w.random.ID, slack.MsgOptionText("vote", false))
	checkErr(t, err, "")
	ref := slack.NewRefToMessage(w.random.ID, ts)
	checkErr(t, w.bot().AddReaction("+1", ref), "")
	checkErr(t, w.bot().AddReaction("-1", ref), "")
	checkErr(t, w.bot().AddReaction("+1", ref), "already_reacted")
	if _, err := w.fake.UserReacts(w.alice.ID, w.random.ID, ts, "+1"); err != nil {
		t.Fatal(err)
	}
	checkErr(t, w.bot().RemoveReaction("-1", ref), "")
	item, err := w.bot().GetReactions(ref, slack.NewGetReactionsParameters())
	checkErr(t, err, "")
	want := []slack.ItemReaction{{Name: "+1", Count: 2, Users: []string{w.fake.BotUserID(), w.alice.ID}}}
	if item.Type != "message" || item.Channel != w.random.ID || fmt.Sprint(item.Reactions) != fmt.Sprint(want) {
		t.Fatalf("reactions.get = %+v", item)
	}
}

func TestGetUsersPaginates(t *testing.T) {
	w := newWorld(t)
	for i := range 5 {
		w.fake.AddUser(slackfake.User{Name: fmt.Sprintf("extra%d", i), Deleted: i == 0})
	}
	users, err := w.bot().GetUsersContext(context.Background(), slack.GetUsersOptionLimit(2))
	checkErr(t, err, "")
	// bot, admin, alice, bob, carol and five more: ten users in five pages.
	if len(users) != 10 || w.fake.CallCount("users.list") != 5 {
		t.Fatalf("got %d users in %d calls", len(users), w.fake.CallCount("users.list"))
	}
	byName := map[string]slack.User{}
	for _, u := range users {
		byName[u.Name] = u
	}
	if !byName["admin"].IsAdmin || !byName["policykit"].IsBot || !byName["extra0"].Deleted || byName["alice"].RealName != "Alice Liddell" || byName["alice"].Profile.RealName != "Alice Liddell" {
		t.Fatalf("users = %+v", byName)
	}

	_, err = w.bot().GetUsersPaginated(slack.GetUsersOptionCursor("garbage")).Next(context.Background())
	checkErr(t, err, "invalid_cursor")
}

func TestGetUserInfo(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		id        string
		wantAdmin bool
		wantErr   string
	}{
		{id: w.fake.AdminUserID(), wantAdmin: true},
		{id: w.alice.ID},
		{id: "U0NOBODY0", wantErr: "user_not_found"},
	}
	for _, tt := range tests {
		u, err := w.bot().GetUserInfo(tt.id)
		checkErr(t, err, tt.wantErr)
		if tt.wantErr == "" && (u.ID != tt.id || u.IsAdmin != tt.wantAdmin) {
			t.Fatalf("users.info %s = %+v", tt.id, u)
		}
	}
}

func TestAuthTest(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name      string
		token     string
		wantUser  string
		wantBotID string
	}{
		{"bot", w.fake.BotToken(), w.fake.BotUserID(), w.fake.BotID()},
		{"admin", w.fake.AdminToken(), w.fake.AdminUserID(), ""},
		{"member", w.fake.UserToken(w.alice.ID), w.alice.ID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := w.client(tt.token).AuthTest()
			checkErr(t, err, "")
			if r.UserID != tt.wantUser || r.BotID != tt.wantBotID || r.TeamID != w.fake.TeamID() {
				t.Fatalf("auth.test = %+v", r)
			}
		})
	}
}

func TestOpenConversation(t *testing.T) {
	w := newWorld(t)
	ch, noOp, already, err := w.bot().OpenConversation(&slack.OpenConversationParameters{Users: []string{w.alice.ID}})
	checkErr(t, err, "")
	if !strings.HasPrefix(ch.ID, "D") || noOp || already {
		t.Fatalf("first open = %+v %v %v", ch, noOp, already)
	}
	again, _, already, err := w.bot().OpenConversation(&slack.OpenConversationParameters{Users: []string{w.alice.ID}})
	checkErr(t, err, "")
	if again.ID != ch.ID || !already {
		t.Fatalf("second open = %+v already=%v", again, already)
	}
	// Posting to the user id lands in the same DM.
	dm, _, err := w.bot().PostMessage(w.alice.ID, slack.MsgOptionText("hi", false))
	checkErr(t, err, "")
	if dm != ch.ID {
		t.Fatalf("post to user went to %s, want %s", dm, ch.ID)
	}
	// Somebody else cannot see the bot's DM.
	_, err = w.admin().GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: ch.ID})
	checkErr(t, err, "channel_not_found")

	group, _, _, err := w.bot().OpenConversation(&slack.OpenConversationParameters{Users: []string{w.alice.ID, w.bob.ID}, ReturnIM: true})
	checkErr(t, err, "")
	if !strings.HasPrefix(group.ID, "G") || !group.IsMpIM {
		t.Fatalf("group DM = %+v", group)
	}
	_, _, _, err = w.bot().OpenConversation(&slack.OpenConversationParameters{Users: []string{"U0NOBODY0"}})
	checkErr(t, err, "user_not_found")
}

func TestConversationInfoAndMembers(t *testing.T) {
	w := newWorld(t)
	if _, err := w.fake.UserSetsTopic(w.alice.ID, w.general.ID, "welcome"); err != nil {
		t.Fatal(err)
	}
	info, err := w.bot().GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: w.general.ID, IncludeNumMembers: true})
	checkErr(t, err, "")
	if info.Name != "general" || !info.IsGeneral || info.Topic.Value != "welcome" || info.Topic.Creator != w.alice.ID || info.NumMembers != 4 || !info.IsMember {
		t.Fatalf("info = %+v", info)
	}

	var all []string
	cursor := ""
	for {
		page, next, err := w.bot().GetUsersInConversation(&slack.GetUsersInConversationParameters{ChannelID: w.general.ID, Limit: 3, Cursor: cursor})
		checkErr(t, err, "")
		all = append(all, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if want := []string{w.fake.AdminUserID(), w.alice.ID, w.bob.ID, w.fake.BotUserID()}; !slices.Equal(all, want) {
		t.Fatalf("members = %v, want %v", all, want)
	}
	_, _, err = w.admin().GetUsersInConversation(&slack.GetUsersInConversationParameters{ChannelID: w.private.ID})
	checkErr(t, err, "channel_not_found")
}

func TestDeactivate(t *testing.T) {
	w := newWorld(t)
	tok := w.fake.UserToken(w.alice.ID)
	w.fake.Deactivate(w.alice.ID)
	_, _, err := w.bot().PostMessage(w.alice.ID, slack.MsgOptionText("hi", false))
	checkErr(t, err, "user_disabled")
	_, err = slack.New(tok, slack.OptionAPIURL(w.fake.APIURL())).AuthTest()
	checkErr(t, err, "account_inactive")
	if u, _ := w.fake.User(w.alice.ID); !u.Deleted {
		t.Fatal("not deactivated")
	}
}

func TestConversationsList(t *testing.T) {
	w := newWorld(t)
	if _, err := w.fake.UserSetsTopic(w.alice.ID, w.random.ID, "off topic"); err != nil {
		t.Fatal(err)
	}
	names := func(c *slack.Client, types []string) ([]string, map[string]string) {
		t.Helper()
		var out []string
		topics := map[string]string{}
		cursor := ""
		for {
			page, next, err := c.GetConversations(&slack.GetConversationsParameters{Types: types, Limit: 2, Cursor: cursor})
			checkErr(t, err, "")
			for _, ch := range page {
				out = append(out, ch.Name)
				topics[ch.Name] = ch.Topic.Value
			}
			if next == "" {
				return out, topics
			}
			cursor = next
		}
	}
	got, topics := names(w.bot(), nil)
	if want := []string{"general", "random", "lounge"}; !slices.Equal(got, want) || topics["random"] != "off topic" {
		t.Fatalf("public channels = %v topics %v, want %v", got, topics, want)
	}
	if got, _ := names(w.bot(), []string{"public_channel", "private_channel"}); !slices.Contains(got, "secret") {
		t.Fatalf("the bot is in #secret and should see it: %v", got)
	}
	if got, _ := names(w.admin(), []string{"private_channel"}); len(got) != 0 {
		t.Fatalf("the admin is not in #secret and must not see it: %v", got)
	}
}

func TestOAuthV2Access(t *testing.T) {
	const redirect = "https://policykit.example/slack/oauth"
	tests := []struct {
		name      string
		grant     slackfake.OAuthGrant
		clientID  string
		secret    string
		code      string
		redirect  string
		wantErr   string
		wantToken bool
	}{
		{name: "exchanges the code", grant: slackfake.OAuthGrant{Code: "c1", ClientID: "id", ClientSecret: "s3cret", RedirectURI: redirect, Scope: "chat:write", UserScope: "chat:write,channels:write"},
			clientID: "id", secret: "s3cret", code: "c1", redirect: redirect, wantToken: true},
		{name: "bot-only install has no user token", grant: slackfake.OAuthGrant{Code: "c1", ClientID: "id", ClientSecret: "s3cret", Scope: "chat:write"},
			clientID: "id", secret: "s3cret", code: "c1", redirect: redirect},
		{name: "wrong secret", grant: slackfake.OAuthGrant{Code: "c1", ClientID: "id", ClientSecret: "s3cret"},
			clientID: "id", secret: "nope", code: "c1", wantErr: "bad_client_secret"},
		{name: "wrong client", grant: slackfake.OAuthGrant{Code: "c1", ClientID: "id", ClientSecret: "s3cret"},
			clientID: "other", secret: "s3cret", code: "c1", wantErr: "invalid_client_id"},
		{name: "wrong redirect", grant: slackfake.OAuthGrant{Code: "c1", ClientID: "id", ClientSecret: "s3cret", RedirectURI: redirect},
			clientID: "id", secret: "s3cret", code: "c1", redirect: "https://evil.example/", wantErr: "bad_redirect_uri"},
		{name: "unknown code", grant: slackfake.OAuthGrant{Code: "c1", ClientID: "id", ClientSecret: "s3cret"},
			clientID: "id", secret: "s3cret", code: "c2", wantErr: "invalid_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.fake.RegisterOAuthCode(tt.grant)
			resp, err := slack.GetOAuthV2ResponseContext(context.Background(), http.DefaultClient,
				tt.clientID, tt.secret, tt.code, tt.redirect, slack.OAuthOptionAPIURL(w.fake.APIURL()))
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != "" {
				return
			}
			if resp.AccessToken != w.fake.BotToken() || resp.TokenType != "bot" || resp.BotUserID != w.fake.BotUserID() ||
				resp.Team.ID != w.fake.TeamID() || resp.AppID != w.fake.AppID() || resp.AuthedUser.ID != w.fake.AdminUserID() {
				t.Fatalf("oauth reply = %+v", resp)
			}
			if tt.wantToken != (resp.AuthedUser.AccessToken == w.fake.AdminToken()) {
				t.Fatalf("authed_user = %+v", resp.AuthedUser)
			}
			// Codes are single use.
			_, err = slack.GetOAuthV2ResponseContext(context.Background(), http.DefaultClient,
				tt.clientID, tt.secret, tt.code, tt.redirect, slack.OAuthOptionAPIURL(w.fake.APIURL()))
			checkErr(t, err, "invalid_code")
		})
	}
}

func TestFailNext(t *testing.T) {
	tests := []struct {
		name   string
		status int
		retry  time.Duration
		check  func(t *testing.T, err error)
	}{
		{
			name: "rate limited", status: http.StatusTooManyRequests, retry: 3 * time.Second,
			check: func(t *testing.T, err error) {
				var rl *slack.RateLimitedError
				if !errors.As(err, &rl) || rl.RetryAfter != 3*time.Second {
					t.Fatalf("err = %v (%T), want RateLimitedError{3s}", err, err)
				}
			},
		},
		{
			name: "retry-after rounds up to whole seconds", status: http.StatusTooManyRequests, retry: 1500 * time.Millisecond,
			check: func(t *testing.T, err error) {
				var rl *slack.RateLimitedError
				if !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second {
					t.Fatalf("err = %v, want RetryAfter 2s", err)
				}
			},
		},
		{
			name: "outage", status: http.StatusInternalServerError,
			check: func(t *testing.T, err error) {
				var sc slack.StatusCodeError
				if !errors.As(err, &sc) || sc.Code != http.StatusInternalServerError {
					t.Fatalf("err = %v (%T), want StatusCodeError 500", err, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.fake.FailNext("chat.postMessage", 2, tt.status, tt.retry)
			for range 2 {
				_, _, err := w.bot().PostMessage(w.general.ID, slack.MsgOptionText("hi", false))
				tt.check(t, err)
			}
			if n := len(w.fake.Messages(w.general.ID)); n != 0 {
				t.Fatalf("failed calls stored %d messages", n)
			}
			_, _, err := w.bot().PostMessage(w.general.ID, slack.MsgOptionText("hi", false))
			checkErr(t, err, "")
			calls := w.fake.Calls("chat.postMessage")
			if len(calls) != 3 || calls[0].Status != tt.status || calls[2].Status != http.StatusOK || calls[2].Token != w.fake.BotToken() || calls[2].Form.Get("text") != "hi" {
				t.Fatalf("calls = %+v", calls)
			}
		})
	}

	t.Run("fail after", func(t *testing.T) {
		w := newWorld(t)
		w.fake.FailAfter("chat.postMessage", 1, 1, http.StatusTooManyRequests, time.Second)
		var errs []string
		for range 3 {
			_, _, err := w.bot().PostMessage(w.general.ID, slack.MsgOptionText("hi", false))
			errs = append(errs, fmt.Sprint(err))
		}
		if errs[0] != "<nil>" || errs[1] == "<nil>" || errs[2] != "<nil>" || len(w.fake.Messages(w.general.ID)) != 2 {
			t.Fatalf("errors %v, messages %d: want the second call only to fail", errs, len(w.fake.Messages(w.general.ID)))
		}
	})

	t.Run("other methods unaffected", func(t *testing.T) {
		w := newWorld(t)
		w.fake.FailNext("conversations.rename", 1, http.StatusInternalServerError, 0)
		_, err := w.admin().AuthTest()
		checkErr(t, err, "")
	})
}

func TestRawWireProtocol(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name     string
		method   string
		form     url.Values
		bearer   string
		wantOK   bool
		wantCode string
	}{
		{name: "unknown method", method: "chat.nonsense", form: url.Values{"token": {w.fake.BotToken()}}, wantCode: "unknown_method"},
		{name: "bearer header fallback", method: "auth.test", bearer: w.fake.BotToken(), wantOK: true},
		{name: "no token at all", method: "auth.test", wantCode: "not_authed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, w.fake.APIURL()+tt.method, strings.NewReader(tt.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || got.OK != tt.wantOK || got.Error != tt.wantCode {
				t.Fatalf("status %d, reply %+v", resp.StatusCode, got)
			}
		})
	}
}

func TestResponseURL(t *testing.T) {
	tests := []struct {
		name  string
		opts  func(url string) []slack.MsgOption
		check func(t *testing.T, w *world, ts string)
	}{
		{
			name: "replace original",
			opts: func(u string) []slack.MsgOption {
				return []slack.MsgOption{slack.MsgOptionReplaceOriginal(u), slack.MsgOptionText("1 yes, 0 no", false),
					slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "1 yes, 0 no", false, false), nil, nil))}
			},
			check: func(t *testing.T, w *world, ts string) {
				m, _ := w.fake.Message(w.general.ID, ts)
				if m.Text != "1 yes, 0 no" || strings.Contains(string(m.Blocks), "vote_yes") {
					t.Fatalf("message not replaced: %+v", m)
				}
			},
		},
		{
			name: "delete original",
			opts: func(u string) []slack.MsgOption { return []slack.MsgOption{slack.MsgOptionDeleteOriginal(u)} },
			check: func(t *testing.T, w *world, ts string) {
				if _, ok := w.fake.Message(w.general.ID, ts); ok {
					t.Fatal("message not deleted")
				}
			},
		},
		{
			name: "ephemeral reply to the clicker",
			opts: func(u string) []slack.MsgOption {
				return []slack.MsgOption{slack.MsgOptionResponseURL(u, slack.ResponseTypeEphemeral), slack.MsgOptionText("vote recorded", false)}
			},
			check: func(t *testing.T, w *world, ts string) {
				eph := w.fake.Ephemerals()
				if len(eph) != 1 || eph[0].User != w.alice.ID || eph[0].Text != "vote recorded" {
					t.Fatalf("ephemerals = %+v", eph)
				}
			},
		},
		{
			name: "in-channel reply",
			opts: func(u string) []slack.MsgOption {
				return []slack.MsgOption{slack.MsgOptionResponseURL(u, slack.ResponseTypeInChannel), slack.MsgOptionText("alice voted", false)}
			},
			check: func(t *testing.T, w *world, ts string) {
				msgs := w.fake.Messages(w.general.ID)
				if len(msgs) != 2 || msgs[1].Text != "alice voted" || msgs[1].BotID != w.fake.BotID() {
					t.Fatalf("messages = %+v", msgs)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			_, ts, err := w.bot().PostMessage(w.general.ID, slack.MsgOptionText("vote", false), slack.MsgOptionBlocks(voteBlocks()...))
			checkErr(t, err, "")
			click, err := w.fake.ClickButton(w.alice.ID, w.general.ID, ts, "vote_yes", "")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(click.ResponseURL(), w.fake.URL()+"/respond/") {
				t.Fatalf("response_url = %q", click.ResponseURL())
			}
			_, _, err = w.bot().PostMessage("", tt.opts(click.ResponseURL())...)
			checkErr(t, err, "")
			tt.check(t, w, ts)
			if w.fake.CallCount("response_url") != 1 {
				t.Fatalf("response_url calls = %d", w.fake.CallCount("response_url"))
			}
		})
	}

	t.Run("five uses, then used_url", func(t *testing.T) {
		w := newWorld(t)
		_, ts, _ := w.bot().PostMessage(w.general.ID, slack.MsgOptionBlocks(voteBlocks()...))
		click, err := w.fake.ClickButton(w.bob.ID, w.general.ID, ts, "vote_no", "no")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			_, _, err := w.bot().PostMessage("", slack.MsgOptionReplaceOriginal(click.ResponseURL()), slack.MsgOptionText(fmt.Sprint(i), false))
			want := ""
			if i == 5 {
				want = "used_url"
			}
			checkErr(t, err, want)
		}
	})

	t.Run("unknown response_url is a 404", func(t *testing.T) {
		w := newWorld(t)
		_, _, err := w.bot().PostMessage("", slack.MsgOptionReplaceOriginal(w.fake.URL()+"/respond/nope"), slack.MsgOptionText("x", false))
		var sc slack.StatusCodeError
		if !errors.As(err, &sc) || sc.Code != http.StatusNotFound {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("clicking a button that is not there fails", func(t *testing.T) {
		w := newWorld(t)
		_, ts, _ := w.bot().PostMessage(w.general.ID, slack.MsgOptionText("no buttons", false))
		_, err := w.fake.ClickButton(w.alice.ID, w.general.ID, ts, "vote_yes", "")
		var ae *slackfake.ActionError
		if !errors.As(err, &ae) || ae.Code != "button_not_found" {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestConcurrentPosts runs under -race: the fake's state is mutex-guarded and
// timestamps stay unique.
func TestConcurrentPosts(t *testing.T) {
	w := newWorld(t)
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, _, err := w.bot().PostMessage(w.general.ID, slack.MsgOptionText(fmt.Sprint(i), false))
			if err != nil {
				t.Error(err)
			}
			_ = w.fake.Messages(w.general.ID)
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, m := range w.fake.Messages(w.general.ID) {
		if seen[m.TS] {
			t.Fatalf("duplicate ts %s", m.TS)
		}
		seen[m.TS] = true
	}
	if len(seen) != n {
		t.Fatalf("%d messages, want %d", len(seen), n)
	}
}
