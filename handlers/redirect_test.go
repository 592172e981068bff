package handlers_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

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
	// Signed in, the sign-in page redirects at once to next: every vector goes through
	// that (an address with a NUL or bad UTF-8 is refused outright with 400).
	b := app.browser()
	b.get("/signin")
	if resp, _ := b.post("/signin", url.Values{"email": {"ada.lovelace@example.org"}, "password": {"correct horse battery"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: status %d", resp.StatusCode)
	}
	for _, tt := range tests {
		resp, err := b.client.Get(app.srv.URL + "/signin?next=" + url.QueryEscape(tt.next))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusBadRequest && (resp.StatusCode != http.StatusSeeOther || got != tt.want) {
			t.Errorf("signed-in GET /signin?next=%q: %d to %q, want %q", tt.next, resp.StatusCode, got, tt.want)
		}
	}
	// The sign-in form's next (a form field, which no address check sees) follows the same
	// rule; each post checks a password, so only the vectors an address cannot carry.
	for _, tt := range []struct{ next, want string }{{"/\x00/evil.example/", "/"}, {"/\u0085/evil.example/", "/"},
		{"/\xff/evil.example/", "/"}, {"/\t/evil.example/", "/"}, {"/c/club/proposals", "/c/club/proposals"}} {
		resp, _ := b.post("/signin", url.Values{"email": {"ada.lovelace@example.org"}, "password": {"correct horse battery"}, "next": {tt.next}})
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != tt.want {
			t.Errorf("sign in with next=%q: %d to %q, want %q", tt.next, resp.StatusCode, got, tt.want)
		}
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

// TestSignInIsThrottled: a burst of wrong passwords (the probe sent 200 in 15 s, all
// checked) is cut off with 429 and Retry-After after the free failures, whatever
// X-Forwarded-For the client claims; the right password from the attacker's browser is
// refused unchecked; the owner's browser that signed in before still signs in.
func TestSignInIsThrottled(t *testing.T) {
	app := newTestApp(t)
	modelstest.Account(t, app.store, "Ada Lovelace")
	owner := app.browser()
	owner.get("/signin")
	if resp, _ := owner.post("/signin", url.Values{"email": {"ada.lovelace@example.org"}, "password": {"correct horse battery"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner's first sign-in: %d", resp.StatusCode)
	}
	owner.post("/signout", nil)

	attacker := app.browser()
	attacker.get("/signin")
	statuses := map[int]int{}
	start := time.Now()
	for i := range 30 {
		form := url.Values{"email": {"ada.lovelace@example.org"}, "password": {"guess number " + strconv.Itoa(i)}, "csrf_token": {attacker.csrf}}
		req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", "203.0.113."+strconv.Itoa(i)) // not a trusted proxy: ignored
		resp, err := attacker.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	// Five failures are free; each later one blocks for twice as long as the one before, so
	// in d seconds at most about log2(d) more can be checked, however slow each check is.
	maxChecked := 6 + int(math.Ceil(math.Log2(time.Since(start).Seconds()+1)))
	if statuses[http.StatusUnauthorized] > maxChecked || statuses[http.StatusTooManyRequests] == 0 {
		t.Fatalf("30 wrong passwords in a burst over %v: %v, want at most %d checked (401) and the rest refused (429)",
			time.Since(start).Round(time.Millisecond), statuses, maxChecked)
	}
	resp, doc := attacker.post("/signin", url.Values{"email": {"ada.lovelace@example.org"}, "password": {"correct horse battery"}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(doc.Find("[role=alert]").Text(), "Too many failed sign-ins") {
		t.Fatalf("right password from the attacker's browser during the block: %d %q", resp.StatusCode, doc.Find("[role=alert]").Text())
	}
	owner.get("/signin")
	if resp, _ := owner.post("/signin", url.Values{"email": {"ada.lovelace@example.org"}, "password": {"correct horse battery"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner's own browser during the attack: %d, want signed in", resp.StatusCode)
	}
}
