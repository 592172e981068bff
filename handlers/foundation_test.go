package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSignUpSignInSignOut(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Ada Lovelace")
	if _, doc := b.get("/"); !strings.Contains(doc.Find("nav").Text(), "Ada Lovelace") {
		t.Fatal("signed-up visitor is not shown as signed in")
	}
	if resp, _ := b.post("/signout", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	if status, _ := b.get("/communities/new"); status != http.StatusSeeOther {
		t.Fatalf("after sign out, a members-only page answered %d, want a redirect to sign in", status)
	}

	tests := []struct {
		name     string
		email    string
		password string
		want     int
	}{
		{"wrong password", "ada.lovelace@example.org", "not the password", http.StatusUnauthorized},
		{"unknown email", "nobody@example.org", "correct horse battery", http.StatusUnauthorized},
		{"right password", "Ada.Lovelace@example.org", "correct horse battery", http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := app.browser()
			b.get("/signin")
			resp, doc := b.post("/signin", url.Values{"email": {tt.email}, "password": {tt.password}})
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusUnauthorized && !strings.Contains(doc.Text(), "Wrong email or password") {
				t.Error("no error message shown")
			}
			if tt.want == http.StatusSeeOther {
				for _, c := range resp.Cookies() {
					if c.Name == "pk_session" && (!c.HttpOnly || c.SameSite != http.SameSiteLaxMode) {
						t.Errorf("session cookie not HttpOnly+SameSite=Lax: %+v", c)
					}
				}
			}
		})
	}
}

func TestSignUpRejectsBadInputAndWritesNothing(t *testing.T) {
	app := newTestApp(t)
	app.browser().signup("Taken Name")
	before := app.count("accounts")
	tests := []struct {
		name, field string
		form        url.Values
	}{
		{"duplicate email", "email", url.Values{"name": {"X"}, "email": {"taken.name@example.org"}, "password": {"long enough"}}},
		{"empty name", "name", url.Values{"name": {"   "}, "email": {"a@example.org"}, "password": {"long enough"}}},
		{"overlong name", "name", url.Values{"name": {strings.Repeat("n", 81)}, "email": {"b@example.org"}, "password": {"long enough"}}},
		{"short password", "password", url.Values{"name": {"B"}, "email": {"c@example.org"}, "password": {"short"}}},
		{"nine characters", "password", url.Values{"name": {"B"}, "email": {"d@example.org"}, "password": {"ninechars"}}},
		{"common password", "password", url.Values{"name": {"B"}, "email": {"e@example.org"}, "password": {"Password123"}}},
		{"common digits", "password", url.Values{"name": {"B"}, "email": {"f@example.org"}, "password": {"1234567890"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := app.browser()
			b.get("/signup")
			resp, doc := b.post("/signup", tt.form)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", resp.StatusCode)
			}
			if doc.Find("#e-"+tt.field).Length() != 1 {
				t.Errorf("no inline error for %s", tt.field)
			}
		})
	}
	if after := app.count("accounts"); after != before {
		t.Fatalf("accounts went from %d to %d", before, after)
	}
}

func TestMissingCSRFTokenIsRefused(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Csrf Victim")
	before := app.count("communities")
	for _, token := range []string{"", "forged-token-forged-token"} {
		resp, _ := b.post("/communities", url.Values{"name": {"Evil"}, "csrf_token": {token}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("token %q: status %d, want 403", token, resp.StatusCode)
		}
	}
	stranger := app.browser()
	resp, _ := stranger.post("/signup", url.Values{"name": {"X"}, "email": {"x@example.org"}, "password": {"long enough"}, "csrf_token": {""}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-up without token: status %d, want 403", resp.StatusCode)
	}
	if after := app.count("communities"); after != before {
		t.Fatalf("a refused request created a community")
	}
	if n := app.count("accounts"); n != 1 {
		t.Fatalf("a refused sign-up created an account (%d accounts)", n)
	}
}

func TestInviteJoinAndMembersPage(t *testing.T) {
	app := newTestApp(t)
	owner := app.browser()
	owner.signup("Owner One")
	slug := owner.createCommunity("Tenants Union")
	_, doc := owner.post("/c/"+slug+"/invites", nil)
	link, ok := doc.Find(`input[aria-label="Invite link"]`).Attr("value")
	if !ok {
		t.Fatal("no invite link shown")
	}
	invitePath := strings.TrimPrefix(link, app.srv.URL)

	guest := app.browser()
	if status, doc := guest.get(invitePath); status != http.StatusOK || !strings.Contains(doc.Text(), "Tenants Union") {
		t.Fatalf("invite page for a visitor: %d", status)
	}
	guest.signup("Guest Two")
	guest.get(invitePath)
	if resp, _ := guest.post(invitePath, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept invite: %d", resp.StatusCode)
	}
	for _, b := range []*browser{owner, guest} {
		status, doc := b.get("/c/" + slug + "/members")
		if status != http.StatusOK {
			t.Fatalf("members page: %d", status)
		}
		text := doc.Find("table").Text()
		if !strings.Contains(text, "Owner One") || !strings.Contains(text, "Guest Two") {
			t.Fatalf("members table lacks someone: %q", text)
		}
	}
	if status, _ := guest.get("/invite/not-a-code"); status != http.StatusNotFound {
		t.Errorf("unknown invite: %d", status)
	}
}

func TestCommunityFormErrors(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Former")
	b.createCommunity("Alpha")
	tests := []struct {
		name  string
		form  url.Values
		field string
	}{
		{"empty name", url.Values{"name": {""}, "starter_kit": {"democracy"}}, "name"},
		{"overlong name", url.Values{"name": {strings.Repeat("x", 81)}, "starter_kit": {"democracy"}}, "name"},
		{"bad slug", url.Values{"name": {"Ok"}, "slug": {"Not a slug!"}, "starter_kit": {"democracy"}}, "slug"},
		{"taken slug", url.Values{"name": {"Alpha"}, "starter_kit": {"democracy"}}, "slug"},
		{"no starter kit", url.Values{"name": {"Beta"}}, "starter_kit"},
		{"unknown starter kit", url.Values{"name": {"Beta"}, "starter_kit": {"anarchy"}}, "starter_kit"},
	}
	before := app.count("communities")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, doc := b.post("/communities", tt.form)
			if resp.StatusCode != http.StatusUnprocessableEntity || doc.Find("#e-"+tt.field).Length() != 1 {
				t.Fatalf("status %d; inline error for %s present: %v", resp.StatusCode, tt.field, doc.Find("#e-"+tt.field).Length() == 1)
			}
		})
	}
	if app.count("communities") != before {
		t.Fatal("bad input created a community")
	}
}

func TestDocumentsRenderSanitisedMarkdown(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Writer")
	slug := b.createCommunity("Writers")
	b.propose(slug, "constitution.add_document", url.Values{"title": {"Guidelines"}, "body": {"# Be kind\n\n**bold** <a href=\"javascript:alert(1)\">x</a>\n\n<script>alert(1)</script>"}})
	docID := app.documentID(slug, "Guidelines")
	_, doc := b.get(fmt.Sprintf("/c/%s/documents/%d", slug, docID))
	body, _ := doc.Find(".markdown").Html()
	if !strings.Contains(body, "<h1") || !strings.Contains(body, "<strong>bold</strong>") {
		t.Errorf("markdown not rendered: %s", body)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "javascript:") {
		t.Errorf("unsafe markup survived: %s", body)
	}
}

func TestUnknownRoutes(t *testing.T) {
	app := newTestApp(t)
	var e apiErr
	if status := app.api("GET", "/api/v1/nope", "", nil, &e); status != http.StatusUnauthorized && status != http.StatusNotFound {
		t.Errorf("unknown API route without token: %d", status)
	}
	b := app.browser()
	if status, doc := b.get("/no/such/page"); status != http.StatusNotFound || !strings.Contains(doc.Text(), "Not found") {
		t.Errorf("unknown page: %d", status)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	app := newTestApp(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if status := app.api("GET", path, "", nil, nil); status != http.StatusOK {
			t.Errorf("%s: %d", path, status)
		}
	}
	resp, err := http.Get(app.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := new(strings.Builder)
	_, _ = io.Copy(buf, resp.Body)
	if !strings.Contains(buf.String(), "policykit_http_requests_total") {
		t.Error("metrics lack the request counter")
	}
}

func TestRuntimeStatusPage(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	if status, _ := b.get("/admin/runtime"); status != http.StatusSeeOther {
		t.Fatalf("runtime page for a visitor: %d, want a redirect to sign in", status)
	}
	b.signup("Operator")
	// A signed-in account that is no instance administrator finds no such page.
	if status, doc := b.get("/admin/runtime"); status != http.StatusNotFound || doc.Find("#outbox-h").Length() != 0 {
		t.Fatalf("runtime page for a plain account: %d, want 404", status)
	}
	if _, err := app.store.SetAdmin(context.Background(), "operator@example.org", true); err != nil {
		t.Fatal(err)
	}
	status, doc := b.get("/admin/runtime")
	if status != http.StatusOK || !strings.Contains(doc.Find("h1").Text(), "Runtime status") || doc.Find("#outbox-h").Length() != 1 {
		t.Fatalf("runtime page for an administrator: %d", status)
	}
	if _, err := app.store.SetAdmin(context.Background(), "operator@example.org", false); err != nil {
		t.Fatal(err)
	}
	if status, _ := b.get("/admin/runtime"); status != http.StatusNotFound {
		t.Fatalf("runtime page after revoking: %d, want 404", status)
	}
}

func TestSlackPageLinkedFromEveryCommunityPage(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Linker")
	slug := b.createCommunity("Linked Club")
	_, doc := b.get("/c/" + slug)
	href, ok := doc.Find(`nav[aria-label="Community"] a:contains("Slack")`).Attr("href")
	if !ok {
		t.Fatal("the community navigation has no Slack link")
	}
	if status, page := b.get(href); status != http.StatusOK || !strings.Contains(page.Text(), "Slack") {
		t.Fatalf("Slack page without Slack configured: %d", status)
	}
}
