package slack_test

import (
	"slices"
	"strings"
	"testing"

	"policykit/engine"
	"policykit/integrations/slack"
	"policykit/integrations/slack/slackfake"
	"policykit/models"
)

const moderatorCheck = `has_role(action.initiator, "Moderator") ? PASSED : yes(with_role("Moderator")) >= 1 ? PASSED : no(with_role("Moderator")) >= 1 ? FAILED : PENDING`

// TestRevertAndReexecute: every governable action a member does in Slack is undone at once
// while a moderator decides, done again when approved, and stays undone when rejected. None
// of PolicyKit's own calls comes back as a new action.
func TestRevertAndReexecute(t *testing.T) {
	overBothTransports(t, engine.KitModerators, func(t *testing.T, w *world) {
		w.install()
		w.addPolicy(map[string]any{
			"kind": "platform", "name": "Slack needs a moderator", "priority": 5,
			"action_types": []any{slack.TypePostMessage, slack.TypeRenameChannel, slack.TypeJoinChannel, slack.TypePinMessage, slack.TypeSetTopic},
			"notify":       `start_vote("yes_no", {among: with_role("Moderator")})`,
			"check":        moderatorCheck,
		})
		admin, alice, bob := w.fake.AdminUserID(), w.users["alice"].ID, w.users["bob"].ID
		rules, err := w.fake.UserPosts(admin, w.lounge.ID, "Read the rules") // a moderator's post stands
		w.send(rules, err)

		name := func(id string) func(slackfake.Event) string {
			return func(slackfake.Event) string { return w.channelName(id) }
		}
		topic := func(slackfake.Event) string { c, _ := w.fake.Channel(w.general.ID); return c.Topic }
		inLounge := func(slackfake.Event) string {
			c, _ := w.fake.Channel(w.lounge.ID)
			return map[bool]string{true: "in", false: "out"}[slices.Contains(c.Members, bob)]
		}
		pinned := func(slackfake.Event) string {
			return map[bool]string{true: "pinned", false: "unpinned"}[slices.Contains(w.fake.Pins(w.lounge.ID), rules.TS())]
		}
		posted := func(ev slackfake.Event) string {
			if _, ok := w.fake.Message(w.lounge.ID, ev.TS()); ok {
				return "original"
			}
			for _, m := range w.fake.Messages(w.lounge.ID) {
				if m.BotID != "" && m.Text == "hello lounge" {
					return "reposted"
				}
			}
			return "gone"
		}
		tests := []struct {
			name    string
			typ     string
			act     func() (slackfake.Event, error)
			state   func(slackfake.Event) string
			undone  string // state while pending
			approve bool
			after   string // state once decided
		}{
			{"post", slack.TypePostMessage, func() (slackfake.Event, error) { return w.fake.UserPosts(alice, w.lounge.ID, "hello lounge") },
				posted, "gone", true, "reposted"},
			{"rename", slack.TypeRenameChannel, func() (slackfake.Event, error) { return w.fake.UserRenames(alice, w.lounge.ID, "living-room") },
				name(w.lounge.ID), "lounge", true, "living-room"},
			{"rename rejected", slack.TypeRenameChannel, func() (slackfake.Event, error) { return w.fake.UserRenames(alice, w.general.ID, "chaos") },
				name(w.general.ID), "general", false, "general"},
			{"join", slack.TypeJoinChannel, func() (slackfake.Event, error) { return w.fake.UserJoins(bob, w.lounge.ID) },
				inLounge, "out", true, "in"},
			{"pin", slack.TypePinMessage, func() (slackfake.Event, error) { return w.fake.UserPins(alice, w.lounge.ID, rules.TS()) },
				pinned, "unpinned", true, "pinned"},
			{"topic", slack.TypeSetTopic, func() (slackfake.Event, error) { return w.fake.UserSetsTopic(alice, w.general.ID, "Lunch talk") },
				topic, "Company-wide", true, "Lunch talk"},
			{"topic rejected", slack.TypeSetTopic, func() (slackfake.Event, error) { return w.fake.UserSetsTopic(bob, w.general.ID, "Chaos") },
				topic, "Lunch talk", false, "Lunch talk"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				actions := w.count("actions")
				ev, err := tt.act()
				w.send(ev, err)
				a, p := w.lastAction(tt.typ)
				if w.count("actions") != actions+1 || p == nil || p.Status != models.StatusPending || !a.Reverted {
					t.Fatalf("not governed as pending and reverted: %+v %+v", a, p)
				}
				if st := w.deliver(); st.Failed != 0 {
					t.Fatalf("delivery: %+v", st)
				}
				if got := tt.state(ev); got != tt.undone {
					t.Fatalf("while pending: %s, want %s", got, tt.undone)
				}
				w.sendEchoes()
				vote := map[bool]string{true: "yes", false: "no"}[tt.approve]
				if _, err := w.eng.CastVote(ctx, w.community.ID, p.ID, w.founderID, vote, "web"); err != nil {
					t.Fatal(err)
				}
				if st := w.deliver(); st.Failed != 0 {
					t.Fatalf("delivery: %+v", st)
				}
				if got := tt.state(ev); got != tt.after {
					t.Fatalf("after %s: %s, want %s", vote, got, tt.after)
				}
				w.sendEchoes()
				if n := w.count("actions"); n != actions+1 {
					t.Fatalf("our own calls were governed: %d new actions", n-actions-1)
				}
				a, _ = w.lastAction(tt.typ)
				if want := map[bool]string{true: models.StatusExecuted, false: models.StatusFailed}[tt.approve]; a.Status != want {
					t.Fatalf("action %s, want %s", a.Status, want)
				}
			})
		}
	})
}

// TestWebsiteProposalsExecute: the same types proposed on the website are carried out in
// Slack when they pass, and a delivery repeated after it succeeded (a crash before it was
// recorded) changes nothing: it reconciles with Slack's state or with what it already sent.
func TestWebsiteProposalsExecute(t *testing.T) {
	overBothTransports(t, engine.KitEverythingPasses, func(t *testing.T, w *world) {
		w.install()
		bob := w.member(w.users["bob"].ID)
		pinMe, err := w.fake.UserPosts(w.users["alice"].ID, w.general.ID, "pin me")
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name   string
			typ    string
			params map[string]any
			check  func() bool
			calls  string // the Slack method that carries it out
			again  int    // its calls when delivered again: 0 when reconciled first, 1 when Slack's answer says "already done"
		}{
			{"post", slack.TypePostMessage, map[string]any{"channel": w.general.ID, "text": "From the website"}, func() bool {
				for _, m := range w.fake.Messages(w.general.ID) {
					if m.BotID != "" && m.Text == "From the website" && strings.Contains(blocksText(m), "on behalf of <@"+w.fake.AdminUserID()+">") {
						return true
					}
				}
				return false
			}, "chat.postMessage", 0},
			{"rename", slack.TypeRenameChannel, map[string]any{"channel": w.lounge.ID, "name": "den"}, func() bool {
				return w.channelName(w.lounge.ID) == "den"
			}, "conversations.rename", 0},
			{"join", slack.TypeJoinChannel, map[string]any{"channel": w.lounge.ID, "member": bob}, func() bool {
				c, _ := w.fake.Channel(w.lounge.ID)
				return slices.Contains(c.Members, w.users["bob"].ID)
			}, "conversations.invite", 1},
			{"pin", slack.TypePinMessage, map[string]any{"channel": w.general.ID, "ts": pinMe.TS()}, func() bool {
				return slices.Contains(w.fake.Pins(w.general.ID), pinMe.TS())
			}, "pins.add", 1},
			{"topic", slack.TypeSetTopic, map[string]any{"channel": w.general.ID, "topic": "Set on the web"}, func() bool {
				c, _ := w.fake.Channel(w.general.ID)
				return c.Topic == "Set on the web"
			}, "conversations.setTopic", 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, err := w.eng.Submit(ctx, engine.Submission{CommunityID: w.community.ID, Type: tt.typ, InitiatorID: w.founderID,
					Origin: models.OriginWeb, Params: tt.params})
				if err != nil || res.Action.Status != models.StatusPassed {
					t.Fatalf("submit: %v %+v", err, res)
				}
				w.deliver()
				if !tt.check() {
					t.Fatal("not carried out in Slack")
				}
				a, _ := w.lastAction(tt.typ)
				if a.Status != models.StatusExecuted {
					t.Fatalf("action %s", a.Status)
				}
				// Deliver the execution again, as after a crash before its outcome was stored.
				calls := w.fake.CallCount(tt.calls)
				if err := w.store.DB().Exec("UPDATE effects SET status = ?, claimed_until = NULL WHERE action_id = ? AND kind = ?",
					models.EffectPending, a.ID, engine.IntentExecute).Error; err != nil {
					t.Fatal(err)
				}
				if st := w.deliver(); st.Delivered != 1 {
					t.Fatalf("redelivery: %+v", st)
				}
				if n := w.fake.CallCount(tt.calls) - calls; n != tt.again {
					t.Fatalf("the repeated delivery called %s %d more times, want %d", tt.calls, n, tt.again)
				}
				if !tt.check() {
					t.Fatal("state changed by the repeated delivery")
				}
			})
		}
		w.sendEchoes()
		var fromSlack int64
		w.store.DB().Table("actions").Where("origin = ?", models.OriginPlatform).Count(&fromSlack)
		if fromSlack != 0 {
			t.Fatalf("carrying out website proposals created %d platform actions", fromSlack)
		}
	})
}
