package handlers_test

import (
	"context"
	"strings"
	"testing"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/handlers/browsertest"
	"policykit/models"
)

// TestBrowserBuildJuryPolicy is the builder's journey: with the form alone, Ada builds
// "renaming a channel needs 2 yes of a random 3-member jury within 48 hours, otherwise it
// fails", watching the code, the rule and an inline problem change without a reload; she
// proposes it, the community's rule (everything passes) adopts it, and the next channel
// rename is governed by it, with a jury of three.
func TestBrowserBuildJuryPolicy(t *testing.T) {
	app := newTestApp(t, enginetest.NewPlatform()) // the recording platform has test.rename_channel
	s := browsertest.New(t, app.srv.URL)
	ada := s.Profile("ada")
	ada.Open("/signup")
	ada.Fill("Your name", "Ada")
	ada.Fill("Email", "ada@example.org")
	ada.Fill("Password (at least 10 characters)", "correct horse battery")
	ada.ClickButton("Sign up")
	ada.ClickLink("Create a community")
	ada.Fill("Name", "Channels")
	ada.Click("#kit-" + engine.KitEverythingPasses)
	ada.ClickButton("Create")
	ada.WaitText("h1", "Channels")
	base := strings.TrimPrefix(ada.URL(), app.srv.URL)

	ctx := context.Background()
	comm, err := app.store.CommunityBySlug(ctx, strings.TrimPrefix(base, "/c/"))
	if err != nil {
		t.Fatal(err)
	}
	var others []int64 // a jury needs people to draw from; how they joined is not this test's concern
	for _, name := range []string{"Bob", "Cy", "Dee"} {
		m, err := app.store.AddMember(ctx, comm.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, m.ID)
	}

	ada.Open(base + "/policies")
	ada.ClickLink("Build a policy")
	ada.WaitText("h1", "Build a policy")
	if bad := unlabelledInputs(ada); len(bad) > 0 {
		t.Fatalf("builder controls without a <label for>: %v", bad)
	}
	if !browsertest.Eval[bool](ada, `typeof window.htmx === 'object'`) {
		t.Fatal("htmx is not loaded: build the front-end assets with `make assets`")
	}
	loads := ada.Loads()
	ada.Fill("Name", "Jury for renames")
	ada.Click("#f-when-action-types-test-rename-channel")
	ada.Click("#f-deciders-who-jury")
	ada.Fill("Jury size", "3")
	ada.Click("#f-how-method-threshold")
	ada.Fill("Yes votes needed", "5")
	ada.WaitText("#e-how-yes", "so 5 yes votes can never happen")
	ada.WaitText("#builder-problems", "1 problem to fix")
	ada.Fill("Yes votes needed", "2")
	ada.Fill("Deadline after", "48h")
	ada.Click("#f-deadline-then-fail")
	ada.WaitText("#builder-rule", "If it is still open after 48 hours, it fails.")
	ada.WaitText("#builder-rule", "A jury of 3 members, drawn at random")
	ada.WaitText("#builder-code", `threshold(2, {deadline: "48h", at_deadline: "fail"})`)
	ada.WaitText("#builder-code", `sample(pool, min(3, len(pool)))`)
	if got := ada.Text("#e-how-yes"); strings.TrimSpace(got) != "" {
		t.Fatalf("the fixed field still shows %q", got)
	}
	if ada.Loads() != loads {
		t.Fatalf("editing the blocks reloaded the page (%d → %d loads); htmx should swap the views", loads, ada.Loads())
	}

	ada.ClickButton("Propose this policy")
	ada.WaitText("h1", "Add the policy “Jury for renames”")
	ada.WaitText("#tally-h", "passed") // the kit's rule: every change passes at once

	// The new policy governs the next rename.
	res, err := app.engine.Submit(ctx, engine.Submission{CommunityID: comm.ID, Type: "test.rename_channel", InitiatorID: others[0],
		Origin: models.OriginPlatform, Params: map[string]any{"channel": "C01", "name": "town-square"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Proposal == nil || res.Proposal.Status != models.StatusPending {
		t.Fatalf("the rename was not sent to a vote: %+v", res.Action)
	}
	ada.Open(base + "/proposals")
	ada.WaitText("main table", "Jury for renames")
	ada.ClickLink("Rename a channel")
	ada.WaitText("#rule-h + p", "Governed by Jury for renames")
	ada.WaitText("#rule", "A jury of 3 members")
	ada.WaitText("#rule-h ~ details summary", "Eligible to vote: 3 members")
}
