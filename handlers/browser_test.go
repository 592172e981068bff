package handlers_test

import (
	"net/url"
	"slices"
	"testing"

	"policykit/handlers/browsertest"
	"policykit/models/modelstest"
)

// TestBrowserInviteJourney walks the foundation in a real browser: one person signs up,
// creates a community and makes an invite link (by htmx, without a reload); a second
// person, in a separate browser profile, opens the link, signs up with the keyboard alone
// and joins; both then see both names on the members page.
func TestBrowserInviteJourney(t *testing.T) {
	app := newTestApp(t)
	s := browsertest.New(t, app.srv.URL)

	ada := s.Profile("ada")
	ada.Open("/signup")
	if bad := unlabelledInputs(ada); len(bad) > 0 {
		t.Fatalf("sign-up inputs without a <label for>: %v", bad)
	}
	ada.Fill("Your name", "Ada Lovelace")
	ada.Fill("Email", "ada@example.org")
	ada.Fill("Password (at least 10 characters)", "correct horse battery")
	ada.ClickButton("Sign up")
	ada.WaitText("h1", "Your communities")

	ada.ClickLink("Create a community")
	ada.Fill("Name", "Analytical Engine Club")
	ada.ClickButton("Create")
	ada.WaitText("h1", "Analytical Engine Club")
	ada.ClickLink("Members")
	membersURL := ada.URL()

	// htmx is in the bundle only after `make assets`; without it the button posts the whole
	// form and the no-reload check below would fail for a reason far from its message.
	if !browsertest.Eval[bool](ada, `typeof window.htmx === 'object'`) {
		t.Fatal("htmx is not loaded: build the front-end assets with `make assets`")
	}
	loads := ada.Loads()
	ada.ClickButton("Create an invite link")
	ada.WaitText("#invite-link", "Share this link")
	if ada.Loads() != loads {
		t.Fatal("creating an invite link reloaded the page; htmx should swap in only the link")
	}
	link := ada.Value("Invite link")
	if u, err := url.Parse(link); err != nil || u.Host == "" {
		t.Fatalf("invite link %q is not an absolute URL", link)
	}

	bob := s.Profile("bob")
	bob.Open(link)
	bob.WaitText("h1", "Join Analytical Engine Club")
	bob.ClickButton("Create an account")
	// Sign up with the keyboard only: Tab moves through the fields in order, Enter submits.
	bob.Focus("Your name")
	for _, step := range []struct{ keys, next string }{
		{"Charles Babbage\t", "Email"},
		{"charles@example.org\t", "Password (at least 10 characters)"},
	} {
		bob.Type(step.keys)
		if got := bob.FocusedLabel(); got != step.next {
			t.Fatalf("after Tab the focus is on %q, want %q", got, step.next)
		}
	}
	bob.Type("difference engine\r")
	bob.WaitText("h1", "Join Analytical Engine Club") // back at the invite, signed in
	bob.ClickButton("Join Analytical Engine Club")
	bob.WaitText("h1", "Analytical Engine Club")

	for _, p := range []*browsertest.Profile{ada, bob} {
		p.Open(membersURL)
		names := p.Texts("tbody td:first-child")
		for _, want := range []string{"Ada Lovelace", "Charles Babbage"} {
			if !slices.Contains(names, want) {
				t.Errorf("members page lists %q, want %q among them", names, want)
			}
		}
	}
}

// TestBrowserSignInWrongPassword checks that a wrong password shows the inline error on the
// sign-in form, keeps the email typed, and that the right one then signs in.
func TestBrowserSignInWrongPassword(t *testing.T) {
	app := newTestApp(t)
	modelstest.Account(t, app.store, "Grace Hopper") // grace.hopper@example.org
	s := browsertest.New(t, app.srv.URL)

	grace := s.Profile("grace")
	grace.Open("/signin")
	if bad := unlabelledInputs(grace); len(bad) > 0 {
		t.Fatalf("sign-in inputs without a <label for>: %v", bad)
	}
	grace.Fill("Email", "grace.hopper@example.org")
	grace.Fill("Password", "not my password")
	grace.ClickButton("Sign in")
	grace.WaitText("[role=alert]", "Wrong email or password.")
	if got := grace.Value("Email"); got != "grace.hopper@example.org" {
		t.Errorf("after the error the email field holds %q, want it kept", got)
	}

	grace.Fill("Password", "correct horse battery")
	grace.ClickButton("Sign in")
	grace.WaitText("h1", "Your communities")
}

// unlabelledInputs lists the visible inputs of p's page whose id no <label for> names, so a
// screen reader would announce them without a name.
func unlabelledInputs(p *browsertest.Profile) []string {
	return browsertest.Eval[[]string](p, `[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(el => !el.id || !document.querySelector('label[for="' + CSS.escape(el.id) + '"]'))
  .map(el => el.name || el.outerHTML)`)
}
