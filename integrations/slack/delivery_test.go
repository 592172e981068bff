package slack_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"policykit/engine"
	"policykit/integrations/slack"
	"policykit/models"
)

// TestRateLimitStorm: Slack answers 429 halfway through sending a jury's ballots. The
// delivery is rescheduled after Retry-After without counting a failure, resumes with the
// jurors not yet reached, and every juror ends up with exactly one ballot.
func TestRateLimitStorm(t *testing.T) {
	overBothTransports(t, engine.KitJury, func(t *testing.T, w *world) {
		w.install()
		w.send(w.fake.UserRenames(w.users["alice"].ID, w.general.ID, "storm"))
		_, p := w.lastAction(slack.TypeRenameChannel)
		jury := ids(p.Data["jury"])

		w.fake.FailAfter("chat.postMessage", 1, 5, http.StatusTooManyRequests, 30*time.Second)
		st := w.deliver()
		if st.Rescheduled != 1 || st.Failed != 0 {
			t.Fatalf("first round: %+v", st)
		}
		for round := 0; ; round++ {
			if round == 10 {
				t.Fatal("the ballots were never delivered")
			}
			w.clock.Advance(29 * time.Second)
			if st := w.deliver(); st.Delivered != 0 {
				t.Fatalf("delivered before Retry-After had passed: %+v", st)
			}
			w.clock.Advance(2 * time.Second)
			if st := w.deliver(); st.Failed != 0 {
				t.Fatalf("a rate limit failed the effect: %+v", st)
			}
			if p = w.proposal(p.ID); len(p.Ballot.Refs) == 3 {
				break
			}
		}
		limited := 0
		for _, c := range w.fake.Calls("chat.postMessage") {
			if c.Status == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited != 5 {
			t.Fatalf("%d rate-limited calls, want the whole storm of 5", limited)
		}
		for _, j := range jury {
			dm, _, _ := strings.Cut(p.Ballot.Refs[fmt.Sprintf("dm:%d", j)], ":")
			ballots := 0
			for _, m := range w.fake.Messages(dm) {
				if strings.Contains(blocksText(m), "pk_vote_yes") {
					ballots++
				}
			}
			if ballots != 1 {
				t.Fatalf("juror %d has %d ballots, want exactly 1", j, ballots)
			}
		}
		es, err := w.store.EffectsOf(ctx, w.community.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Kind == "open_ballot" && (e.Status != models.EffectDone || e.Attempts != 1) {
				t.Fatalf("open_ballot %s after %d counted attempts, want done after 1", e.Status, e.Attempts)
			}
		}
	})
}

// TestOutageDuringReexecution: Slack is down (500) when an approved rename is carried out
// again. Retries back off, and once Slack recovers the rename happens exactly once.
func TestOutageDuringReexecution(t *testing.T) {
	overBothTransports(t, engine.KitJury, func(t *testing.T, w *world) {
		w.install()
		w.send(w.fake.UserRenames(w.users["alice"].ID, w.general.ID, "after-the-storm"))
		a, p := w.lastAction(slack.TypeRenameChannel)
		w.deliver()
		for _, j := range ids(p.Data["jury"])[:2] {
			if _, err := w.eng.CastVote(ctx, w.community.ID, p.ID, j, "yes", "web"); err != nil {
				t.Fatal(err)
			}
		}
		renamesBefore := w.fake.CallCount("conversations.rename")
		w.fake.FailNext("conversations.rename", 3, http.StatusInternalServerError, 0)
		for round := 0; w.channelName(w.general.ID) != "after-the-storm"; round++ {
			if round == 8 {
				t.Fatal("never renamed after Slack recovered")
			}
			if st := w.deliver(); st.Failed != 0 {
				t.Fatalf("an outage failed the effect for good: %+v", st)
			}
			w.clock.Advance(15 * time.Minute)
		}
		ok := 0
		for _, c := range w.fake.Calls("conversations.rename")[renamesBefore:] {
			if c.Status == http.StatusOK {
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("the rename was applied %d times", ok)
		}
		if got := w.fake.CallCount("conversations.rename") - renamesBefore; got != 4 {
			t.Fatalf("%d rename calls, want 3 failures and 1 success", got)
		}
		if w.fake.CallCount("conversations.info") < 3 {
			t.Fatal("retries did not check the channel's name before renaming again")
		}
		a, _ = w.lastAction(slack.TypeRenameChannel)
		if a.Status != models.StatusExecuted {
			t.Fatalf("action %s", a.Status)
		}
		w.sendEchoes()
		if n := w.count("actions"); n != 1 {
			t.Fatalf("%d actions: our rename came back as a new one", n)
		}
	})
}

// TestPostAndNotify: notify() sends each member with a Slack account a direct message (web
// members are skipped), post() writes in the action's channel, and a rate limit halfway
// through the messages resumes without sending any twice.
func TestPostAndNotify(t *testing.T) {
	overBothTransports(t, engine.KitEverythingPasses, func(t *testing.T, w *world) {
		w.install()
		carol := w.browser()
		carol.signup("Carol Web")
		acct, _ := w.store.AccountByEmail(ctx, "carol.web@example.org")
		inv, err := w.store.CreateInvite(ctx, w.community.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.store.AcceptInvite(ctx, inv.Code, acct); err != nil {
			t.Fatal(err)
		}
		w.addPolicy(map[string]any{
			"kind": "platform", "name": "Topics are reviewed", "action_types": []any{slack.TypeSetTopic}, "priority": 5,
			"notify": `notify(members(), "A topic change waits for review"); post("This topic change waits for review")`,
			"check":  `PENDING`,
		})
		w.send(w.fake.UserSetsTopic(w.users["alice"].ID, w.general.ID, "Reviewed topics only"))
		_, p := w.lastAction(slack.TypeSetTopic)
		w.fake.Deactivate(w.users["erin"].ID) // left the workspace after the sync: Slack refuses her DM
		w.fake.FailAfter("chat.postMessage", 2, 1, http.StatusTooManyRequests, time.Second)
		if st := w.deliver(); st.Failed != 0 || st.Rescheduled != 1 {
			t.Fatalf("first round: %+v", st)
		}
		w.clock.Advance(2 * time.Second)
		if st := w.deliver(); st.Failed != 0 {
			t.Fatalf("delivery: %+v", st)
		}
		link := fmt.Sprintf("/c/%s/proposals/%d", w.community.Slug, p.ID)
		dms := 0
		for _, u := range append([]string{w.fake.AdminUserID()}, slackIDsOf(w)[:4]...) {
			got := 0
			for _, c := range w.fake.Calls("chat.postMessage") {
				if c.Status == http.StatusOK && c.Form.Get("channel") == u && strings.Contains(c.Form.Get("text"), "A topic change waits for review") {
					got++
					if !strings.Contains(c.Form.Get("text"), link) {
						t.Fatalf("the notice has no link to the proposal: %q", c.Form.Get("text"))
					}
				}
			}
			if got != 1 {
				t.Fatalf("%s got %d notices, want 1", u, got)
			}
			dms++
		}
		posts := 0
		for _, m := range w.fake.Messages(w.general.ID) {
			if m.BotID != "" && strings.HasPrefix(m.Text, "This topic change waits for review") {
				posts++
			}
		}
		asked := 0
		for _, c := range w.fake.Calls("chat.postMessage") {
			if c.Form.Get("channel") == w.users["erin"].ID {
				asked++
			}
		}
		if asked != 1 {
			t.Fatalf("Slack was asked %d times to message erin, who cannot be messaged", asked)
		}
		if dms != 5 || posts != 1 {
			t.Fatalf("%d notices and %d posts, want 5 and 1", dms, posts)
		}
	})
}

func slackIDsOf(w *world) []string {
	var out []string
	for _, n := range []string{"alice", "bob", "carol", "dave", "erin"} { // erin last
		out = append(out, w.users[n].ID)
	}
	return out
}

// TestRenameRefusedBySlack: the jury approves a rename that Slack then refuses for good; the
// action is approved but not carried out, the jurors' ballots say so with the reason, and
// a member's retry carries it out and shows it passed.
func TestRenameRefusedBySlack(t *testing.T) {
	w := newWorld(t, engine.KitJury)
	w.install()
	w.send(w.fake.UserRenames(w.users["alice"].ID, w.general.ID, "town-square"))
	_, p := w.lastAction(slack.TypeRenameChannel)
	w.deliver()
	w.sendEchoes()
	jury := ids(p.Data["jury"])
	for _, j := range jury[:2] {
		if _, err := w.eng.CastVote(ctx, w.community.ID, p.ID, j, "yes", "web"); err != nil {
			t.Fatal(err)
		}
	}
	w.fake.FailNext("conversations.rename", 1, http.StatusForbidden, 0)
	w.deliver()
	a, p := w.lastAction(slack.TypeRenameChannel)
	if p.Status != models.StatusPassed || a.Status != models.StatusNotCarriedOut || !strings.Contains(a.Note, "Slack refused it") {
		t.Fatalf("proposal %s, action %s (%q)", p.Status, a.Status, a.Note)
	}
	if got := w.channelName(w.general.ID); got != "general" {
		t.Fatalf("channel is %q", got)
	}
	for _, j := range jury {
		text := blocksText(w.ballotMessage(p.Ballot.Refs[fmt.Sprintf("dm:%d", j)]))
		if !strings.Contains(text, "Approved, but could not be carried out: Slack refused it") {
			t.Fatalf("juror %d's ballot: %s", j, text)
		}
	}
	if err := w.eng.RetryAction(ctx, w.community.ID, a.ID, jury[0]); err != nil {
		t.Fatal(err)
	}
	w.deliver()
	if got := w.channelName(w.general.ID); got != "town-square" {
		t.Fatalf("after the retry the channel is %q", got)
	}
	if a, _ := w.lastAction(slack.TypeRenameChannel); a.Status != models.StatusExecuted {
		t.Fatalf("after the retry: %s (%s)", a.Status, a.Note)
	}
	for _, j := range jury {
		text := blocksText(w.ballotMessage(p.Ballot.Refs[fmt.Sprintf("dm:%d", j)]))
		if !strings.Contains(text, "Passed") || strings.Contains(text, "could not be carried out") {
			t.Fatalf("juror %d's ballot after the retry: %s", j, text)
		}
	}
}
