package slack_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"policykit/engine"
	"policykit/integrations/slack"
	"policykit/integrations/slack/slackfake"
	"policykit/models"
)

// TestJuryDecidesARename is the seed paper's example, end to end through Slack: a member
// renames #general, PolicyKit renames it back and asks a random jury of three in direct
// messages; two jurors press Yes and the rename is carried out again. A second rename that
// the jury ignores for two days fails and stays reverted.
func TestJuryDecidesARename(t *testing.T) {
	overBothTransports(t, engine.KitJury, func(t *testing.T, w *world) {
		w.install()
		alice := w.users["alice"]

		w.send(w.fake.UserRenames(alice.ID, w.general.ID, "random-talk"))
		a, p := w.lastAction(slack.TypeRenameChannel)
		if p == nil || p.Status != models.StatusPending || !a.Reverted || a.InitiatorID == nil || *a.InitiatorID != w.member(alice.ID) {
			t.Fatalf("rename not pending and reverted by alice's member: %+v %+v", a, p)
		}
		if a.Params["previous_name"] != "general" || a.Params["name"] != "random-talk" || a.Params["channel"] != w.general.ID {
			t.Fatalf("params = %v", a.Params)
		}
		jury := ids(p.Data["jury"])
		if len(jury) != 3 || p.Ballot == nil || !p.Ballot.DM {
			t.Fatalf("jury %v ballot %+v", jury, p.Ballot)
		}

		if st := w.deliver(); st.Failed != 0 {
			t.Fatalf("delivery: %+v", st)
		}
		if got := w.channelName(w.general.ID); got != "general" {
			t.Fatalf("channel is %q, want it renamed back to general", got)
		}
		p = w.proposal(p.ID)
		if len(p.Ballot.Refs) != 3 {
			t.Fatalf("ballot refs %v, want a DM to each juror", p.Ballot.Refs)
		}
		for _, j := range jury {
			m := w.ballotMessage(p.Ballot.Refs[fmt.Sprintf("dm:%d", j)])
			if m.BotID == "" || !strings.Contains(blocksText(m), "pk_vote_yes") || !strings.Contains(blocksText(m), "jury of 3") ||
				!strings.Contains(blocksText(m), fmt.Sprintf("/c/%s/proposals/%d", w.community.Slug, p.ID)) {
				t.Fatalf("juror %d's ballot lacks buttons, rule or link: %s", j, m.Blocks)
			}
			dm, _, _ := strings.Cut(p.Ballot.Refs[fmt.Sprintf("dm:%d", j)], ":")
			if n := len(w.fake.Messages(dm)); n != 2 { // the ballot and notify()'s message
				t.Fatalf("juror %d has %d messages, want the ballot and the jury notice", j, n)
			}
		}

		// Our own calls echo back (the admin's rename, the bot's DMs): none is governed.
		actions := w.count("actions")
		w.sendEchoes()
		if n := w.count("actions"); n != actions {
			t.Fatalf("echoes created %d actions", n-actions)
		}

		for i, j := range jury[:2] {
			m := w.ballotMessage(p.Ballot.Refs[fmt.Sprintf("dm:%d", j)])
			w.click(w.slackUser(j), m.Channel, m.TS, "pk_vote_yes")
			if !w.ephemeralTo(w.slackUser(j), "Your vote is recorded: yes") {
				t.Fatalf("juror %d got no private confirmation", j)
			}
			w.deliver()
			if i == 0 {
				if m := w.ballotMessage(p.Ballot.Refs[fmt.Sprintf("dm:%d", jury[2])]); !strings.Contains(blocksText(m), "Yes 1") {
					t.Fatalf("the third juror's ballot does not show the tally: %s", m.Blocks)
				}
			}
		}
		if p = w.proposal(p.ID); p.Status != models.StatusPassed {
			t.Fatalf("after two yes votes: %s", p.Status)
		}
		if got := w.channelName(w.general.ID); got != "random-talk" {
			t.Fatalf("channel is %q, want the approved name random-talk", got)
		}
		for _, j := range jury {
			m := w.ballotMessage(p.Ballot.Refs[fmt.Sprintf("dm:%d", j)])
			if !strings.Contains(blocksText(m), "Passed") || strings.Contains(blocksText(m), "pk_vote_yes") {
				t.Fatalf("juror %d's ballot does not show the outcome: %s", j, m.Blocks)
			}
		}
		actions = w.count("actions")
		w.sendEchoes()
		if n := w.count("actions"); n != actions {
			t.Fatalf("the re-executed rename's echo was governed")
		}

		// Second run: nobody answers within two days.
		w.send(w.fake.UserRenames(w.users["bob"].ID, w.general.ID, "watercooler"))
		_, p2 := w.lastAction(slack.TypeRenameChannel)
		w.deliver()
		w.sendEchoes()
		if got := w.channelName(w.general.ID); got != "random-talk" {
			t.Fatalf("channel is %q while the jury deliberates", got)
		}
		w.clock.Advance(49 * time.Hour)
		if _, err := w.eng.CheckPending(ctx); err != nil {
			t.Fatal(err)
		}
		w.deliver()
		a2 := w.proposal(p2.ID)
		if a2.Status != models.StatusFailed {
			t.Fatalf("after 49 hours: %s", a2.Status)
		}
		if got := w.channelName(w.general.ID); got != "random-talk" {
			t.Fatalf("channel is %q, want the rename still undone", got)
		}
		for _, ref := range a2.Ballot.Refs {
			if m := w.ballotMessage(ref); !strings.Contains(blocksText(m), "Failed") {
				t.Fatalf("ballot does not show the failure: %s", m.Blocks)
			}
		}
	})
}

// TestAnnouncementsNeedAModerator: a member's post in #announcements is deleted at once
// and re-posted by the bot on the member's behalf when a moderator presses Approve; a
// moderator's own post stands untouched.
func TestAnnouncementsNeedAModerator(t *testing.T) {
	overBothTransports(t, engine.KitModerators, func(t *testing.T, w *world) {
		w.install()
		w.addPolicy(map[string]any{
			"kind": "platform", "name": "Announcements need a moderator", "action_types": []any{slack.TypePostMessage}, "priority": 5,
			"filter": fmt.Sprintf("action.channel == %q", w.announce.ID),
			"notify": `start_vote("yes_no", {among: with_role("Moderator")})`,
			"check":  `has_role(action.initiator, "Moderator") ? PASSED : yes(with_role("Moderator")) >= 1 ? PASSED : no(with_role("Moderator")) >= 1 ? FAILED : PENDING`,
		})
		alice, admin := w.users["alice"].ID, w.fake.AdminUserID()

		ev, err := w.fake.UserPosts(alice, w.announce.ID, "Hi")
		w.send(ev, err)
		a, p := w.lastAction(slack.TypePostMessage)
		if p.Status != models.StatusPending || a.Params["channel_name"] != "announcements" {
			t.Fatalf("alice's announcement: %s %v", p.Status, a.Params)
		}
		w.deliver()
		if _, ok := w.fake.Message(w.announce.ID, ev.TS()); ok {
			t.Fatal("alice's post is still in #announcements")
		}
		p = w.proposal(p.ID)
		ballot := w.ballotMessage(p.Ballot.Refs["channel"])
		if ballot.Channel != w.announce.ID || !strings.Contains(blocksText(ballot), "Yes, approve") {
			t.Fatalf("ballot: %+v", ballot)
		}
		// alice is no moderator, and frank joined Slack unseen (no team_join): both clicks are
		// refused privately and nothing is counted.
		w.click(alice, ballot.Channel, ballot.TS, "pk_vote_yes")
		frank := w.fake.AddUser(slackfake.User{Name: "frank"})
		w.click(frank.ID, ballot.Channel, ballot.TS, "pk_vote_yes")
		if !w.ephemeralTo(alice, "not eligible") || !w.ephemeralTo(frank.ID, "not linked") {
			t.Fatalf("refused voters were not told privately: %+v", w.fake.Ephemerals())
		}
		if vs, _ := w.store.VotesOf(ctx, []int64{p.ID}); len(vs[p.ID]) != 0 {
			t.Fatalf("refused clicks were counted: %+v", vs[p.ID])
		}
		w.click(admin, ballot.Channel, ballot.TS, "pk_vote_yes")
		w.deliver()
		var reposted *string
		for _, m := range w.fake.Messages(w.announce.ID) {
			if m.BotID != "" && m.Text == "Hi" {
				if !strings.Contains(blocksText(m), "on behalf of <@"+alice+">") {
					t.Fatalf("re-post does not say whose it is: %s", m.Blocks)
				}
				ts := m.TS
				reposted = &ts
			}
		}
		if reposted == nil {
			t.Fatalf("the bot did not re-post Hi: %+v", w.fake.Messages(w.announce.ID))
		}
		if a, _ = w.lastAction(slack.TypePostMessage); a.Status != models.StatusExecuted || a.ExternalRefs["posted_ts"] != *reposted {
			t.Fatalf("action %s refs %v", a.Status, a.ExternalRefs)
		}
		if m := w.ballotMessage(p.Ballot.Refs["channel"]); !strings.Contains(blocksText(m), "Passed") {
			t.Fatalf("ballot does not show the outcome: %s", m.Blocks)
		}
		w.sendEchoes() // the bot's re-post is not governed again

		deletes := w.fake.CallCount("chat.delete")
		actions := w.count("actions")
		own, err := w.fake.UserPosts(admin, w.announce.ID, "Moderators speak")
		w.send(own, err)
		a, p = w.lastAction(slack.TypePostMessage)
		if w.count("actions") != actions+1 || p.Status != models.StatusPassed || a.Status != models.StatusExecuted || a.Reverted {
			t.Fatalf("moderator's post: %s %s reverted=%v", p.Status, a.Status, a.Reverted)
		}
		w.deliver()
		if _, ok := w.fake.Message(w.announce.ID, own.TS()); !ok || w.fake.CallCount("chat.delete") != deletes {
			t.Fatal("a moderator's own post was touched")
		}
	})
}

func (w *world) ephemeralTo(user, text string) bool {
	for _, e := range w.fake.Ephemerals() {
		if e.User == user && strings.Contains(e.Text, text) {
			return true
		}
	}
	return false
}
