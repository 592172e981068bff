package handlers_test

import (
	"strings"
	"testing"

	"policykit/handlers/browsertest"
)

// browserCommons: Ada signs up and creates a community with the democracy kit, invites Bob
// and Cy by link, and they join from their own browsers. It returns the community's path.
func browserCommons(t *testing.T, s *browsertest.Session, site string) (base string, ada, bob, cy *browsertest.Profile) {
	t.Helper()
	ada = s.Profile("ada")
	ada.Open("/signup")
	ada.Fill("Your name", "Ada")
	ada.Fill("Email", "ada@example.org")
	ada.Fill("Password (at least 10 characters)", "correct horse battery")
	ada.ClickButton("Sign up")
	ada.ClickLink("Create a community")
	ada.Fill("Name", "Commons")
	ada.Click("#kit-democracy")
	ada.ClickButton("Create")
	ada.WaitText("h1", "Commons")
	base = strings.TrimPrefix(ada.URL(), site)
	if got := ada.Text("#rules-h + article"); !strings.Contains(got, "more than half of all the voters vote yes") {
		t.Fatalf("the dashboard does not show the democracy rule: %q", got)
	}

	people := []*browsertest.Profile{s.Profile("bob"), s.Profile("cy")}
	for i, p := range people {
		name := []string{"Bob", "Cy"}[i]
		ada.Open(base + "/members")
		ada.ClickButton("Create an invite link")
		ada.WaitText("#invite-link", "Share this link")
		p.Open(ada.Value("Invite link"))
		p.ClickButton("Create an account")
		p.Fill("Your name", name)
		p.Fill("Email", strings.ToLower(name)+"@example.org")
		p.Fill("Password (at least 10 characters)", "correct horse battery")
		p.ClickButton("Sign up")
		p.ClickButton("Join Commons")
		p.WaitText("h1", "Commons")
	}
	return base, ada, people[0], people[1]
}

// TestBrowserDocumentProposalPasses is the first journey: a member proposes a new
// document; the other two vote in their own browsers and watch the tally change without
// reloading; the proposal passes and the document appears.
func TestBrowserDocumentProposalPasses(t *testing.T) {
	app := newTestApp(t)
	s := browsertest.New(t, app.srv.URL)
	base, ada, bob, cy := browserCommons(t, s, app.srv.URL)

	ada.Open(base)
	ada.ClickLink("Propose")
	ada.ClickLink("Add a document")
	if bad := unlabelledInputs(ada); len(bad) > 0 {
		t.Fatalf("propose form inputs without a label: %v", bad)
	}
	ada.Fill("Title (required)", "Code of conduct")
	ada.Fill("Text (markdown) (required)", "Be **kind**.")
	ada.ClickButton("Propose")
	ada.WaitText("h1", "Add the document “Code of conduct”")
	proposal := strings.TrimPrefix(ada.URL(), app.srv.URL)

	for _, p := range []*browsertest.Profile{bob, cy} {
		p.Open(base)
		p.WaitText("#waiting-h + table", "Code of conduct") // waiting for their vote, first
		p.Open(proposal)
		p.WaitText("#tally-summary", "0 of 3")
	}
	cyLoads, bobLoads := cy.Loads(), bob.Loads()

	bob.ClickButton("Yes")
	bob.WaitText("#my-vote", "You voted yes")
	cy.WaitText(`#tally tr[data-option="yes"] td.count`, "1") // polled in, no reload
	cy.WaitText("#tally-summary", "1 of 3")

	cy.ClickButton("Yes")
	cy.WaitText("#tally-h", "passed")
	bob.WaitText("#tally-h", "passed")
	bob.WaitText("#vote", "Voting has closed")
	if cy.Loads() != cyLoads || bob.Loads() != bobLoads {
		t.Errorf("voting and watching the tally reloaded a page (cy %d→%d, bob %d→%d loads)", cyLoads, cy.Loads(), bobLoads, bob.Loads())
	}

	ada.Open(base + "/documents")
	ada.WaitText("main", "Code of conduct")
	ada.ClickLink("Code of conduct")
	ada.WaitText(".markdown strong", "kind")
}

// TestBrowserRoleChangeFails is the second journey: a proposal to add an all-powerful role
// is voted down, and the role never appears.
func TestBrowserRoleChangeFails(t *testing.T) {
	app := newTestApp(t)
	s := browsertest.New(t, app.srv.URL)
	base, ada, bob, cy := browserCommons(t, s, app.srv.URL)

	ada.Open(base + "/roles")
	ada.ClickLink("Propose a new role")
	ada.Fill("Name (required)", "Admin")
	ada.Fill("Description", "May do anything at once")
	ada.Click(`input[name="permissions.execute"][value="*"]`)
	ada.ClickButton("Propose")
	ada.WaitText("h1", "Add the role “Admin”")
	proposal := strings.TrimPrefix(ada.URL(), app.srv.URL)

	for _, p := range []*browsertest.Profile{bob, cy} {
		p.Open(proposal)
		p.ClickButton("No")
		p.WaitText("#my-vote", "You voted no")
	}
	ada.Open(proposal)
	ada.WaitText("#tally-h", "failed")
	ada.WaitText(".timeline", "Decided: failed")
	ada.Open(base + "/roles")
	if head := ada.Text("#matrix thead"); strings.Contains(head, "Admin") {
		t.Fatalf("the failed proposal created the role: %q", head)
	}
}
