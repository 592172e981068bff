package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"policykit/handlers/browsertest"
	"policykit/models/modelstest"
)

// TestSignInRedirectStaysOnSite posts the sign-in form with every usual open-redirect
// vector as next: each must land on this site ("/"), while a real path is kept.
func TestSignInRedirectStaysOnSite(t *testing.T) {
	app := newTestApp(t)
	modelstest.Account(t, app.store, "Ada Lovelace")
	tests := []struct{ next, want string }{
		{"/c/club/proposals?status=pending", "/c/club/proposals?status=pending"},
		{"/communities/new", "/communities/new"},
		{"//evil.example/", "/"},
		{"///evil.example/", "/"},
		{"/\\evil.example/", "/"},
		{"\\\\evil.example/", "/"},
		{"/\t/evil.example/", "/"},
		{"/\n/evil.example/", "/"},
		{"/\r/evil.example/", "/"},
		{"/\x00/evil.example/", "/"},
		{"/ /evil.example/", "/ /evil.example/"}, // a space stays a path: browsers keep it
		{"/%09/evil.example/", "/"},
		{"/%0a/evil.example/", "/"},
		{"/%0d%0a/evil.example/", "/"},
		{"/%5Cevil.example/", "/"},
		{"/%2F/evil.example/", "/"},
		{"/%252F/evil.example/", "/"},
		{"/%2509/evil.example/", "/"},
		{"/%25252F/evil.example/", "/"},
		{"https://evil.example/", "/"},
		{"http:evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"/\u0085/evil.example/", "/"},
		{"/\xff/evil.example/", "/"},
		{"", "/"},
		{"evil.example", "/"},
	}
	for _, tt := range tests {
		t.Run(url.QueryEscape(tt.next), func(t *testing.T) {
			b := app.browser()
			b.get("/signin?next=" + url.QueryEscape(tt.next))
			resp, _ := b.post("/signin", url.Values{"email": {"ada.lovelace@example.org"}, "password": {"correct horse battery"}, "next": {tt.next}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign in: status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Location"); got != tt.want {
				t.Errorf("next=%q redirects to %q, want %q", tt.next, got, tt.want)
			}
			// Signed in, the sign-in page redirects at once: the same rule applies.
			status, _ := b.get("/signin?next=" + url.QueryEscape(tt.next))
			if status != http.StatusSeeOther {
				t.Fatalf("signed-in GET /signin: status %d", status)
			}
		})
	}
}

// TestBrowserTabRedirectStaysOnSite: a signed-in person who follows
// /signin?next=/%09/<other site>/ stays on this site in Chromium (which drops the tab and
// used to land on the other site).
func TestBrowserTabRedirectStaysOnSite(t *testing.T) {
	app := newTestApp(t)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<!doctype html><title>evil</title><h1>Another site</h1>"))
	}))
	t.Cleanup(evil.Close)
	evilHost := strings.TrimPrefix(evil.URL, "http://")
	modelstest.Account(t, app.store, "Grace Hopper")
	s := browsertest.New(t, app.srv.URL)
	grace := s.Profile("grace")
	grace.Open("/signin")
	grace.Fill("Email", "grace.hopper@example.org")
	grace.Fill("Password", "correct horse battery")
	grace.ClickButton("Sign in")
	grace.WaitText("h1", "Your communities")

	for _, next := range []string{"/%09/" + evilHost + "/", "/%0a/" + evilHost + "/", "/%5C" + evilHost + "/", "/%5C%09" + evilHost + "/"} {
		grace.Open("/signin?next=" + next)
		u, err := url.Parse(grace.URL())
		if err != nil {
			t.Fatal(err)
		}
		if "http://"+u.Host != app.srv.URL {
			t.Errorf("next=%s took the browser to %s, off the site", next, u)
		}
	}
}
