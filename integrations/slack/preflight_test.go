package slack_test

import (
	"errors"
	"testing"

	"policykit/engine"
	"policykit/integrations/slack"
	"policykit/models"
)

// TestSlackActionsCheckedWhenProposed: every Slack action type, proposed on the website,
// is refused with an error on the field when it could not be carried out (an unknown
// channel, a name Slack refuses, a rename or topic that changes nothing, a member without a
// linked Slack account), writing nothing; valid ones open a proposal; and disconnecting
// Slack during the vote leaves them approved but not carried out, with nothing sent.
func TestSlackActionsCheckedWhenProposed(t *testing.T) {
	type bad struct {
		name, field string
		params      map[string]any
	}
	for _, typ := range []string{slack.TypePostMessage, slack.TypeRenameChannel, slack.TypeJoinChannel, slack.TypePinMessage, slack.TypeSetTopic} {
		t.Run(typ, func(t *testing.T) {
			w := newWorld(t, engine.KitEverythingPasses)
			w.install()
			w.addPolicy(map[string]any{"kind": "platform", "name": "Two votes", "priority": 1,
				"notify": `start_vote("yes_no")`, "check": `yes() >= 2 ? PASSED : PENDING`})
			web, err := w.store.AddMember(ctx, w.community.ID, "Web only")
			if err != nil {
				t.Fatal(err)
			}
			gen, lounge := w.general.ID, w.lounge.ID
			var valid map[string]any
			invalid := []bad{{"an unknown channel", "channel", map[string]any{"channel": "C404", "text": "x", "name": "x", "ts": "1.2", "member": w.founderID, "topic": "x"}}}
			switch typ {
			case slack.TypePostMessage:
				valid = map[string]any{"channel": gen, "text": "Hello"}
				invalid[0].params = map[string]any{"channel": "C404", "text": "Hello"}
			case slack.TypeRenameChannel:
				valid = map[string]any{"channel": gen, "name": "town-square"}
				invalid = []bad{{"an unknown channel", "channel", map[string]any{"channel": "C404", "name": "x"}},
					{"a name Slack refuses", "name", map[string]any{"channel": gen, "name": "Town Square"}},
					{"its own name", "name", map[string]any{"channel": gen, "name": "general"}}}
			case slack.TypeJoinChannel:
				valid = map[string]any{"channel": lounge, "member": w.member(w.users["bob"].ID)}
				invalid = []bad{{"a member without Slack", "member", map[string]any{"channel": lounge, "member": web.ID}},
					{"an unknown channel", "channel", map[string]any{"channel": "C404", "member": w.member(w.users["bob"].ID)}}}
			case slack.TypePinMessage:
				valid = map[string]any{"channel": gen, "ts": "1700000000.000100"}
				invalid[0].params = map[string]any{"channel": "C404", "ts": "1.2"}
			case slack.TypeSetTopic:
				valid = map[string]any{"channel": gen, "topic": "Everything else"}
				invalid = []bad{{"the topic it has", "topic", map[string]any{"channel": gen, "topic": "Company-wide"}}}
			}
			propose := func(params map[string]any) (*engine.Result, error) {
				return w.eng.Submit(ctx, engine.Submission{CommunityID: w.community.ID, Type: typ, InitiatorID: w.founderID,
					Params: params, Origin: models.OriginWeb})
			}
			for _, b := range invalid {
				before := w.count("actions")
				_, err := propose(b.params)
				if !errors.Is(err, models.ErrInvalid) || models.FieldErrors(err)[b.field] == "" {
					t.Errorf("%s: %v, want an error about %s", b.name, err, b.field)
				}
				if w.count("actions") != before {
					t.Errorf("%s: written", b.name)
				}
			}
			res, err := propose(valid)
			if err != nil || res.Proposal == nil || res.Proposal.Status != models.StatusPending {
				t.Fatalf("valid: %v %+v", err, res)
			}
			conn, err := w.store.ConnectionOf(ctx, w.community.ID, "slack")
			if err != nil {
				t.Fatal(err)
			}
			if err := w.store.DeleteConnection(ctx, w.community.ID, conn.ID); err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{"alice", "bob"} {
				if _, err := w.eng.CastVote(ctx, w.community.ID, res.Proposal.ID, w.member(w.users[u].ID), "yes", "web"); err != nil {
					t.Fatal(err)
				}
			}
			a, p := w.lastAction(typ)
			if p.Status != models.StatusPassed || a.Status != models.StatusNotCarriedOut || a.Note == "" {
				t.Fatalf("after Slack was disconnected: proposal %s, action %s (%q)", p.Status, a.Status, a.Note)
			}
		})
	}
}
