package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

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
	base := browserFounder(ada, app.srv.URL, "Channels", engine.KitEverythingPasses)

	ctx := context.Background()
	comm, err := app.store.CommunityBySlug(ctx, strings.TrimPrefix(base, "/c/"))
	if err != nil {
		t.Fatal(err)
	}
	enginetest.Connect(t, app.store, comm)
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
	ada.WaitText("#builder-rule", "When someone renames a channel, a jury of 3 members, drawn at random")
	ada.WaitText("#builder-code", `threshold(max(1, min(2, len(get("jury")))), {deadline: "48h", at_deadline: "fail"})`)
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
	ada.WaitText("#rule", "When someone renames a channel, a jury of 3 members")
	ada.WaitText("#rule-h ~ details summary", "Eligible to vote: 3 members")
}

// TestBrowserBuilderDefaultsAndLiveErrors: choosing "a random jury" and "threshold" without
// typing a number gives a working jury policy (3 jurors, 2 yes, 7 days), which Ada proposes
// as it is; and in the code view a syntax error is marked where it is as she types, before
// anything is submitted, and the mark goes when she fixes it.
func TestBrowserBuilderDefaultsAndLiveErrors(t *testing.T) {
	app := newTestApp(t, enginetest.NewPlatform())
	s := browsertest.New(t, app.srv.URL)
	ada := s.Profile("ada")
	base := browserFounder(ada, app.srv.URL, "Defaults", engine.KitEverythingPasses)

	ada.Open(base + "/builder")
	if !browsertest.Eval[bool](ada, `typeof window.htmx === 'object'`) {
		t.Fatal("htmx is not loaded: build the front-end assets with `make assets`")
	}
	ada.Fill("Name", "Jury by default")
	ada.Click("#f-when-action-types-test-rename-channel") // offered "when Test is connected"
	ada.Click("#f-deciders-who-jury")
	ada.Click("#f-how-method-threshold")
	ada.WaitText("#builder-rule", "When someone renames a channel, a jury of 3 members")
	ada.WaitText("#builder-rule", "at least 2 voters vote yes")
	ada.WaitText("#builder-rule", "after 7 days")
	ada.WaitText("#builder-code", `threshold(max(1, min(2, len(get("jury")))), {deadline: "7d"})`)
	if got := ada.Text("#builder-problems"); strings.TrimSpace(got) != "" {
		t.Fatalf("problems with the defaults: %s", got)
	}
	ada.ClickButton("Propose this policy")
	ada.WaitText("h1", "Add the policy “Jury by default”")
	ada.WaitText("#tally-h", "passed")
	ctx := context.Background()
	comm, err := app.store.CommunityBySlug(ctx, strings.TrimPrefix(base, "/c/"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := app.store.PolicyByName(ctx, comm.ID, "Jury by default")
	if err != nil || !strings.Contains(p.InitSrc, "sample(pool, min(3, len(pool)))") {
		t.Fatalf("the policy: %v %q", err, p.InitSrc)
	}

	// The code view marks a syntax error as Ada types, before she submits anything.
	before := app.count("actions")
	ada.Open(base + "/propose/" + engine.TypeAddPolicy)
	ada.Click("#f-check + .cm-editor .cm-content")
	ada.Type("PASSED +")
	ada.WaitText("#f-check + .cm-editor .cm-lintRange-error", "")
	ada.WaitText("#f-check + .cm-editor .cm-gutter-lint", "")
	ada.WaitText("#f-check + .cm-editor + .code-problem", "Line 1, column")
	if !strings.HasSuffix(ada.URL(), "/propose/"+engine.TypeAddPolicy) || app.count("actions") != before {
		t.Fatal("marking the error submitted the form")
	}
	ada.Type("\b\b")
	for i := 0; browsertest.Eval[bool](ada, `document.querySelector("#f-check + .cm-editor .cm-lintRange-error") !== null`); i++ {
		if i == 50 {
			t.Fatal("the mark stayed after the error was fixed")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
