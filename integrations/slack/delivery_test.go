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
	w := newWorld(t, engine.KitJury)
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
}

// TestOutageDuringReexecution: Slack is down (500) when an approved rename is carried out
// again. Retries back off, and once Slack recovers the rename happens exactly once.
func TestOutageDuringReexecution(t *testing.T) {
	w := newWorld(t, engine.KitJury)
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
}
