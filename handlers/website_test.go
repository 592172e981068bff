package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"policykit/engine"
)

// community3 is a democracy-kit community of three members who joined by invite, each in
// their own browser.
func community3(t *testing.T, app *testApp, kit string) (slug string, ada, bob, cy *browser) {
	t.Helper()
	ada, bob, cy = app.browser(), app.browser(), app.browser()
	ada.signup("Ada")
	slug = ada.createCommunityWithKit("Commons", kit)
	for _, b := range []*browser{bob, cy} {
		_, doc := ada.post("/c/"+slug+"/invites", nil)
		link, _ := doc.Find(`input[aria-label="Invite link"]`).Attr("value")
		path := strings.TrimPrefix(link, app.srv.URL)
		b.signup(map[*browser]string{bob: "Bob", cy: "Cy"}[b])
		b.get(path)
		if resp, _ := b.post(path, nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("accept invite: %d", resp.StatusCode)
		}
	}
	return slug, ada, bob, cy
}

// htmx sends a request as htmx does (partial swap) and returns status, headers and document.
func (b *browser) htmx(method, path string, form url.Values) (*http.Response, *goquery.Document) {
	b.app.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, b.app.srv.URL+path, body)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", b.csrf)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.app.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(raw), "<html") {
		b.app.t.Errorf("%s %s: an htmx request got a whole page", method, path)
	}
	doc, _ := goquery.NewDocumentFromReader(bytes.NewReader(raw))
	return resp, doc
}

func tallyCount(doc *goquery.Document, option string) string {
	return strings.TrimSpace(doc.Find(`#tally tr[data-option="` + option + `"] td.count`).Text())
}

// TestDocumentProposalPassesByMajority: under the democracy kit a new document is a
// proposal; two of three members vote yes (one by plain form, one by htmx), the tally
// follows, the proposal passes and the document appears.
func TestDocumentProposalPassesByMajority(t *testing.T) {
	app := newTestApp(t)
	slug, ada, bob, cy := community3(t, app, engine.KitDemocracy)

	where := ada.propose(slug, engine.TypeAddDocument, url.Values{"title": {"Code of conduct"}, "body": {"Be **kind**."}})
	if !strings.HasPrefix(where, "/c/"+slug+"/proposals/") {
		t.Fatalf("a governed proposal should lead to its page, got %s", where)
	}
	status, doc := bob.get(where)
	if status != http.StatusOK {
		t.Fatalf("proposal page: %d", status)
	}
	if got := doc.Find("#rule").Text(); !strings.Contains(got, "more than half of all the voters vote yes") {
		t.Errorf("the frozen rule is not shown: %q", got)
	}
	if got := doc.Find("#tally").Text(); !strings.Contains(got, "Deadline:") {
		t.Errorf("the 7-day deadline of the democracy kit is not shown: %q", got)
	}
	if got := doc.Find("#tally-summary").Text(); !strings.Contains(got, "0 of 3") {
		t.Errorf("tally summary %q, want 0 of 3", got)
	}
	if doc.Find(`#vote button[value="yes"]`).Length() != 1 || doc.Find(`#vote button[value="abstain"]`).Length() != 1 {
		t.Fatal("no yes/no/abstain buttons")
	}
	if got := doc.Find("#eligible").Text(); got != "Ada, Bob, Cy" {
		t.Errorf("eligible members %q, want Ada, Bob, Cy", got)
	}
	// The dashboard puts it first for members who have not voted.
	if _, dash := cy.get("/c/" + slug); !strings.Contains(dash.Find("#waiting-h").Parent().Text(), "Add the document “Code of conduct”") {
		t.Error("the proposal is not waiting for Cy's vote on the dashboard")
	}

	// Bob votes with the plain form (no JavaScript): redirected back to the page.
	resp, _ := bob.post(where+"/votes", url.Values{"value": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("plain vote: %d", resp.StatusCode)
	}
	// Cy's page polls the tally fragment: it has changed without a reload.
	_, frag := cy.htmx("GET", where+"/tally", nil)
	if got := tallyCount(frag, "yes"); got != "1" {
		t.Fatalf("polled yes count %q, want 1", got)
	}
	if _, ok := frag.Find("#tally").Attr("hx-trigger"); !ok {
		t.Error("a pending proposal's tally should keep polling")
	}

	// Cy votes no, then changes to yes through htmx.
	cy.get(where)
	if resp, frag := cy.htmx("POST", where+"/votes", url.Values{"value": {"no"}}); resp.StatusCode != http.StatusOK || !strings.Contains(frag.Find("#my-vote").Text(), "You voted no") {
		t.Fatalf("htmx vote: %d %q", resp.StatusCode, frag.Text())
	} else if resp.Header.Get("HX-Trigger") != "vote-recorded" {
		t.Error("a recorded vote should trigger a tally refresh")
	}
	cy.htmx("POST", where+"/votes", url.Values{"value": {"yes"}})

	_, page := ada.get(where)
	if got := page.Find("#tally-h .badge").Text(); got != "passed" {
		t.Fatalf("status %q after 2 of 3 yes, want passed", got)
	}
	if _, ok := page.Find("#tally").Attr("hx-trigger"); ok {
		t.Error("a decided proposal's tally should stop polling")
	}
	timeline := page.Find(".timeline").Text()
	for _, want := range []string{"Bob voted yes", "Cy changed their vote to yes", "Decided: passed", "Carried out"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	_, frag = ada.htmx("GET", where+"/tally", nil)
	if frag.Find(`#vote[hx-swap-oob]`).Length() != 1 {
		t.Error("the decided tally fragment should also close the vote controls")
	}
	if resp, frag := bob.htmx("POST", where+"/votes", url.Values{"value": {"no"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(frag.Find("#vote-error").Text(), "closed") {
		t.Errorf("vote after the decision: %d %q", resp.StatusCode, frag.Find("#vote-error").Text())
	}

	id := app.documentID(slug, "Code of conduct")
	_, docs := bob.get("/c/" + slug + "/documents")
	if !strings.Contains(docs.Text(), "Code of conduct") {
		t.Error("the passed document is not listed")
	}
	_, dash := ada.get("/c/" + slug)
	if !strings.Contains(dash.Find("#recent-h").Parent().Text(), "Code of conduct") {
		t.Error("the decision is not among the recent decisions")
	}

	// A change is a proposal too; its page shows what it would change.
	where = bob.propose(slug, engine.TypeChangeDocument, url.Values{"document": {fmt.Sprint(id)}, "title": {"Code of conduct"}, "body": {"Be **kind** and brave."}})
	_, page = ada.get(where)
	if ins := page.Find(".diff ins").Text(); !strings.Contains(ins, "kind** and brave") {
		t.Errorf("the change's diff lacks the new line: %q", ins)
	}
	_, form := ada.get(fmt.Sprintf("/c/%s/propose/%s?document=%d", slug, engine.TypeChangeDocument, id))
	if got := form.Find("#f-body").Text(); got != "Be **kind**." {
		t.Errorf("the change form is not prefilled with the current text: %q", got)
	}
}

// TestRoleChangeFails: a proposal to add a role with the execute permission fails when two
// of three vote no, and the role does not appear.
func TestRoleChangeFails(t *testing.T) {
	app := newTestApp(t)
	slug, ada, bob, cy := community3(t, app, engine.KitDemocracy)
	where := ada.propose(slug, engine.TypeAddRole, url.Values{"name": {"Admin"}, "description": {"Does anything"},
		"permissions": {""}, "permissions.execute": {"*"}})
	bob.get(where)
	bob.post(where+"/votes", url.Values{"value": {"no"}})
	cy.get(where)
	cy.post(where+"/votes", url.Values{"value": {"no"}})
	_, page := ada.get(where)
	if got := page.Find("#tally-h .badge").Text(); got != "failed" {
		t.Fatalf("status %q, want failed", got)
	}
	_, roles := ada.get("/c/" + slug + "/roles")
	if strings.Contains(roles.Find("#matrix thead").Text(), "Admin") {
		t.Error("a failed role proposal created the role")
	}
}

// TestProposeFormsAreGeneratedAndLabelled: every action type has a form whose every
// control is labelled.
func TestProposeFormsAreGeneratedAndLabelled(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Labeller")
	slug := b.createCommunity("Labels")
	_, index := b.get("/c/" + slug + "/propose")
	links := index.Find(`main a[href^="/c/` + slug + `/propose/"]`)
	if links.Length() < 10 {
		t.Fatalf("the propose index lists %d types", links.Length())
	}
	links.Each(func(_ int, a *goquery.Selection) {
		href, _ := a.Attr("href")
		status, doc := b.get(href)
		if status != http.StatusOK {
			t.Errorf("%s: %d", href, status)
			return
		}
		doc.Find("main form input, main form select, main form textarea").Each(func(_ int, in *goquery.Selection) {
			if typ, _ := in.Attr("type"); typ == "hidden" {
				return
			}
			id, _ := in.Attr("id")
			_, aria := in.Attr("aria-label")
			if !aria && (id == "" || doc.Find(`label[for="`+id+`"]`).Length() == 0) {
				name, _ := in.Attr("name")
				t.Errorf("%s: control %q has no label", href, name)
			}
		})
	})
	if status, _ := b.get("/c/" + slug + "/propose/nope.nothing"); status != http.StatusNotFound {
		t.Errorf("unknown action type form: %d", status)
	}
}

// TestProposeRejectsBadInputInline: bad parameters re-render the form with inline errors and
// write nothing.
func TestProposeRejectsBadInputInline(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Careful")
	slug := b.createCommunity("Careful")
	b.get("/c/" + slug)
	tests := []struct {
		name, typ, field string
		form             url.Values
	}{
		{"missing title", engine.TypeAddDocument, "title", url.Values{"body": {"text"}}},
		{"empty body", engine.TypeAddDocument, "body", url.Values{"title": {"T"}, "body": {"  "}}},
		{"broken policy code", engine.TypeAddPolicy, "check", url.Values{"kind": {"constitution"}, "name": {"Broken"}, "check": {"yes( >= 1"}}},
		{"wrong kind of action type", engine.TypeAddPolicy, "action_types", url.Values{"kind": {"platform"}, "name": {"Odd"}, "action_types": {"constitution.add_role"}}},
		{"unknown permission", engine.TypeAddRole, "permissions", url.Values{"name": {"X"}, "permissions": {""}, "permissions.propose": {"nope.thing"}}},
		{"malformed candidates", engine.TypeElection, "candidates", url.Values{"title": {"Q"}, "candidates": {"[not json"}}},
		{"not a number", engine.TypeReorderPolicy, "priority", url.Values{"policy": {"1"}, "priority": {"soon"}}},
		{"a role name in use", engine.TypeAddRole, "name", url.Values{"name": {"everyone"}, "permissions": {""}}},
		{"a settings change that changes nothing", engine.TypeChangeSettings, "name", url.Values{"name": {"Careful"}, "description": {""}}},
	}
	before := [2]int64{app.count("actions"), app.count("audit_events")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.get("/c/" + slug + "/propose/" + tt.typ)
			resp, doc := b.post("/c/"+slug+"/propose/"+tt.typ, tt.form)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", resp.StatusCode)
			}
			if doc.Find("#e-"+tt.field).Length() != 1 {
				t.Errorf("no inline error for %s; page says %q", tt.field, doc.Find(".field-error, .flash").Text())
			}
		})
	}
	if after := [2]int64{app.count("actions"), app.count("audit_events")}; after != before {
		t.Fatalf("bad input wrote rows: %v → %v", before, after)
	}
	resp, _ := b.post("/c/"+slug+"/propose/"+engine.TypeAddDocument, url.Values{"title": {"Huge"}, "body": {strings.Repeat("x", 2<<20)}})
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized form: %d, want 413", resp.StatusCode)
	}
}

// TestUnchangedCodeViewIsNoChange: submitting a policy's code view as it opened proposes
// nothing: it is refused as no change, next to the policy, and writes nothing.
func TestUnchangedCodeViewIsNoChange(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Keeper")
	slug := b.createCommunity("Keepers")
	c, err := app.store.CommunityBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := app.store.Policies(context.Background(), c.ID)
	if err != nil || len(ps) == 0 {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/c/%s/propose/%s", slug, engine.TypeChangePolicy)
	_, doc := b.get(fmt.Sprintf("%s?policy=%d", path, ps[0].ID))
	form := url.Values{}
	doc.Find("form[method=post] input, form[method=post] textarea, form[method=post] select").Each(func(_ int, s *goquery.Selection) {
		name := s.AttrOr("name", "")
		switch {
		case name == "":
		case s.Is("textarea"):
			form.Add(name, s.Text())
		case s.Is("select"):
			form.Add(name, s.Find("option[selected]").AttrOr("value", ""))
		case s.AttrOr("type", "") == "checkbox":
			if _, on := s.Attr("checked"); on {
				form.Add(name, s.AttrOr("value", ""))
			}
		default:
			form.Add(name, s.AttrOr("value", ""))
		}
	})
	before := app.count("actions")
	resp, doc := b.post(path, form)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find("#e-policy").Text(), "no change") {
		t.Fatalf("unchanged code view: %d, %q", resp.StatusCode, doc.Find(".field-error, .flash").Text())
	}
	if app.count("actions") != before {
		t.Fatal("an unchanged policy was proposed")
	}
}
