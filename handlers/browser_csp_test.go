package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"policykit/engine"
	"policykit/handlers/browsertest"
)

// cspWorld is a community with something on every page: the democracy kit's policies, a
// pending proposal with a ballot, a document with a table and an outside image, an invite
// and an API token; its founder is an instance administrator.
type cspWorld struct {
	app    *testApp
	slug   string
	ids    map[string]string // route segment before :id → an id
	invite string
}

func newCSPWorld(t *testing.T) *cspWorld {
	t.Helper()
	app := newTestApp(t)
	ada := app.browser()
	ada.signup("Ada Lovelace")
	w := &cspWorld{app: app, slug: ada.createCommunityWithKit("Commons", engine.KitDemocracy), ids: map[string]string{}}
	ctx := context.Background()
	if _, err := app.store.SetAdmin(ctx, "ada.lovelace@example.org", true); err != nil {
		t.Fatal(err)
	}
	where := ada.propose(w.slug, engine.TypeAddRole, url.Values{"name": {"Gardener"}, "description": {"Keeps the garden."}})
	w.ids["proposals"] = where[strings.LastIndex(where, "/")+1:]
	c, err := app.store.CommunityBySlug(ctx, w.slug)
	if err != nil {
		t.Fatal(err)
	}
	p, err := app.store.ProposalByID(ctx, c.ID, atoi(t, w.ids["proposals"]))
	if err != nil {
		t.Fatal(err)
	}
	w.ids["actions"] = fmt.Sprint(p.ActionID)
	doc, err := app.store.CreateDocument(ctx, c.ID, "Garden rules",
		"# Garden rules\n\n| who | when |\n|---|---|\n| all | Sundays |\n\n![the garden](https://example.org/garden.png)\n\n- [x] water\n- [ ] weed\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	w.ids["documents"] = fmt.Sprint(doc.ID)
	pols, err := app.store.Policies(ctx, c.ID)
	if err != nil || len(pols) == 0 {
		t.Fatal(err)
	}
	w.ids["policies"] = fmt.Sprint(pols[0].ID)
	_, page := ada.post("/c/"+w.slug+"/invites", nil)
	link, _ := page.Find(`input[aria-label="Invite link"]`).Attr("value")
	w.invite = link[strings.LastIndex(link, "/")+1:]
	app.token("ada.lovelace@example.org")
	return w
}

// pages lists every page address of the router a member can open, with real ids: every
// GET route but the API, metrics, probes, static files and downloads, and the propose form
// of every action type.
func (w *cspWorld) pages(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, r := range w.app.routes {
		if r.Method != http.MethodGet || strings.HasPrefix(r.Path, "/api/") || strings.HasPrefix(r.Path, "/static/") ||
			slices.Contains([]string{"/metrics", "/healthz", "/readyz", "/c/:slug/audit/export"}, r.Path) {
			continue
		}
		if r.Path == "/c/:slug/propose/:type" {
			for _, typ := range w.app.engine.ActionTypes() {
				out = append(out, "/c/"+w.slug+"/propose/"+typ.Name)
			}
			continue
		}
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			switch p {
			case ":slug":
				parts[i] = w.slug
			case ":code":
				parts[i] = w.invite
			case ":id":
				id, ok := w.ids[parts[i-1]]
				if !ok {
					t.Fatalf("no id for %s", r.Path)
				}
				parts[i] = id
			}
		}
		out = append(out, strings.Join(parts, "/"))
	}
	return out
}

// TestBrowserPagesSatisfyTheCSP opens every page as a member of a community with data,
// with the Content-Security-Policy on, and does what runs scripts and styles (htmx swaps
// in the builder, the CodeMirror code view, an invite link, a vote and the live tally, the
// audit check): Chromium reports no CSP violation and no console error. A planted inline
// event handler is refused, which shows the policy is on and the watcher hears it.
func TestBrowserPagesSatisfyTheCSP(t *testing.T) {
	w := newCSPWorld(t)
	s := browsertest.New(t, w.app.srv.URL)
	ada := s.Profile("ada")
	ada.WatchCSP()
	ada.Open("/signin")
	ada.Fill("Email", "ada.lovelace@example.org")
	ada.Fill("Password", "correct horse battery")
	ada.ClickButton("Sign in")
	ada.WaitText("h1", "Your communities")

	pages := w.pages(t)
	if len(pages) < 30 {
		t.Fatalf("only %d pages to walk: %v", len(pages), pages)
	}
	for _, page := range pages {
		ada.Open(page)
	}

	base := "/c/" + w.slug
	// The builder: htmx previews as the form changes, then the code view (CodeMirror).
	ada.Open(base + "/policies/" + w.ids["policies"] + "/builder")
	ada.Fill("Name", "Majority of members, renamed")
	time.Sleep(time.Second) // htmx previews 300 ms after typing stops
	ada.ClickButton("Edit the code by hand")
	ada.WaitText("#detached", "Detached from its blocks")
	if !browsertest.Eval[bool](ada, `document.querySelector('.cm-editor') !== null && getComputedStyle(document.querySelector('.cm-editor')).display === 'flex'`) {
		t.Error("the code view's CodeMirror editor is missing or unstyled (its styles were refused?)")
	}
	ada.Click(".cm-content")
	ada.Type("1")
	// The members page: an invite link by htmx, selected when clicked.
	ada.Open(base + "/members")
	ada.ClickButton("Create an invite link")
	ada.WaitText("#invite-link", "Share this link")
	ada.Click(`input[aria-label="Invite link"]`)
	if got := browsertest.Eval[bool](ada, `(() => { const f = document.querySelector('input[aria-label="Invite link"]'); return f.selectionStart === 0 && f.selectionEnd === f.value.length })()`); !got {
		t.Error("clicking the invite link does not select it")
	}
	// A vote by htmx, and the tally htmx polls every 2 s.
	ada.Open(base + "/proposals/" + w.ids["proposals"])
	ada.ClickButton("Yes")
	time.Sleep(2500 * time.Millisecond)
	// The audit check by htmx.
	ada.Open(base + "/audit")
	ada.ClickButton("Verify the log")

	if v := ada.CSPViolations(); len(v) > 0 {
		t.Errorf("%d Content-Security-Policy violations:\n%s", len(v), strings.Join(v, "\n"))
	}
	if e := scriptErrors(ada.ConsoleErrors(), w.app.srv.URL, pages); len(e) > 0 {
		t.Errorf("%d console errors:\n%s", len(e), strings.Join(e, "\n"))
	}

	// The policy is on: an inline event handler planted in the page does not run.
	ada.Open(base)
	browsertest.Eval[bool](ada, `document.body.insertAdjacentHTML('beforeend', '<img src="/static/favicon.svg" onload="window.__planted = true">') || true`)
	time.Sleep(500 * time.Millisecond)
	if browsertest.Eval[bool](ada, `window.__planted === true`) {
		t.Error("a planted inline event handler ran: no Content-Security-Policy is enforced")
	}
	if v := ada.CSPViolations(); len(v) != 1 || !strings.Contains(v[0], "script-src") {
		t.Errorf("the planted handler was reported as %v, want one script-src violation", v)
	}
}

// TestSecurityHeaders: every answer (pages, fragments, the API, errors, static files)
// carries the Content-Security-Policy and the frame, sniffing and referrer headers, with a
// fresh style nonce each time.
func TestSecurityHeaders(t *testing.T) {
	w := newCSPWorld(t)
	b := w.app.browser()
	b.get("/signin")
	b.post("/signin", url.Values{"email": {"ada.lovelace@example.org"}, "password": {"correct horse battery"}})
	nonces := map[string]bool{}
	for _, path := range append(w.pages(t), "/api/v1/openapi.json", "/static/app.js", "/no/such/page", "/c/"+w.slug+"/proposals/"+w.ids["proposals"]+"/tally") {
		resp, err := b.client.Get(w.app.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self';", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: Content-Security-Policy %q allows inline code", path, csp)
		}
		_, rest, _ := strings.Cut(csp, "'nonce-")
		nonce, _, _ := strings.Cut(rest, "'")
		if nonce == "" || nonces[nonce] {
			t.Errorf("%s: style nonce %q missing or reused", path, nonce)
		}
		nonces[nonce] = true
		for name, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
			if got := h.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", path, name, got, want)
			}
		}
	}
}

// scriptErrors leaves out of a tab's console errors the failed loads that say nothing of
// the pages' scripts and styles: a walked page's own status (the Slack pages answer 404
// when Slack is not configured) and pictures on other sites, which this closed network
// cannot reach (the policy allows them; a refusal would be a violation).
func scriptErrors(errs []string, site string, pages []string) []string {
	var out []string
	for _, e := range errs {
		if strings.Contains(e, "Failed to load resource") {
			_, loaded, _ := strings.Cut(e, "(")
			loaded = strings.TrimSuffix(loaded, ")")
			if !strings.HasPrefix(loaded, site) || slices.Contains(pages, strings.TrimPrefix(loaded, site)) {
				continue
			}
		}
		out = append(out, e)
	}
	return out
}
