package handlers_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"policykit/engine"
)

// t0 is the context of direct store reads in tests.
var t0 = context.Background()

func (a *testApp) policyID(slug, name string) int64 {
	a.t.Helper()
	c, err := a.store.CommunityBySlug(t0, slug)
	if err != nil {
		a.t.Fatal(err)
	}
	p, err := a.store.PolicyByName(t0, c.ID, name)
	if err != nil {
		a.t.Fatal(err)
	}
	return p.ID
}

// TestPolicyCodeViewVersionsAndDiff: a policy change proposed from the code view creates a
// version; the policy page lists versions and shows the diff between them.
func TestPolicyCodeViewVersionsAndDiff(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Coder")
	slug := b.createCommunity("Coders")
	_, list := b.get("/c/" + slug + "/policies")
	for _, want := range []string{"Platform actions pass", "Constitution changes pass"} {
		if !strings.Contains(list.Find("main").Text(), want) {
			t.Errorf("policies page lacks %q", want)
		}
	}
	id := app.policyID(slug, "Constitution changes pass")
	_, form := b.get(fmt.Sprintf("/c/%s/propose/%s?policy=%d", slug, engine.TypeChangePolicy, id))
	if form.Find(`textarea[data-code][name="check"]`).Length() != 1 || form.Find(`script[src="/static/editor.js"]`).Length() != 1 {
		t.Fatal("the code view has no CodeMirror-enhanced stage editors")
	}
	if v, _ := form.Find("#f-name").Attr("value"); v != "Constitution changes pass" {
		t.Errorf("the change form is not prefilled: name %q", v)
	}
	values := url.Values{}
	form.Find("main form input, main form select, main form textarea").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		switch {
		case name == "" || name == "csrf_token":
		case s.Is("textarea"):
			values.Set(name, s.Text())
		case s.Is("select"):
			v, _ := s.Find("option[selected]").Attr("value")
			values.Set(name, v)
		default:
			if typ, _ := s.Attr("type"); typ == "checkbox" {
				if _, on := s.Attr("checked"); !on {
					return
				}
			}
			v, _ := s.Attr("value")
			values.Add(name, v)
		}
	})
	values.Set("description", "Every change passes, for now.")
	values.Set("check", "PASSED")
	b.propose(slug, engine.TypeChangePolicy, values)

	_, page := b.get(fmt.Sprintf("/c/%s/policies/%d", slug, id))
	if n := page.Find("#versions-h ~ ol li").Length(); n != 2 {
		t.Fatalf("%d versions listed, want 2", n)
	}
	diff := page.Find(".diff").Text()
	if !strings.Contains(diff, "+ Every change passes, for now.") || !strings.Contains(diff, "+ PASSED") {
		t.Errorf("the diff from version 1 to 2 lacks the changes:\n%s", diff)
	}
	if status, _ := b.get(fmt.Sprintf("/c/%s/policies/%d?from=9", slug, id)); status != http.StatusNotFound {
		t.Errorf("an unknown version: %d", status)
	}
	if status, _ := b.get(fmt.Sprintf("/c/%s/policies/%d?from=x", slug, id)); status != http.StatusBadRequest {
		t.Errorf("a malformed version: %d", status)
	}
}

// TestRolesMatrixAndRoleProposals: roles change by proposal; the matrix and the members per
// role follow, and the edit form is prefilled with the role's permissions.
func TestRolesMatrixAndRoleProposals(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Roler")
	slug := b.createCommunity("Roles")
	b.propose(slug, engine.TypeAddRole, url.Values{"name": {"Moderator"}, "permissions": {""},
		"permissions.propose": {"constitution.*"}, "permissions.execute": {engine.TypeAddDocument}})
	c, _ := app.store.CommunityBySlug(t0, slug)
	r, err := app.store.RoleByName(t0, c.ID, "Moderator")
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := app.store.Members(t0, c.ID)
	b.propose(slug, engine.TypeGrantRole, url.Values{"role": {fmt.Sprint(r.ID)}, "member": {fmt.Sprint(ms[0].ID)}})

	_, page := b.get("/c/" + slug + "/roles")
	heads := page.Find("#matrix thead th").Map(func(_ int, s *goquery.Selection) string { return s.Text() })
	col := -1
	for i, h := range heads {
		if h == "Moderator" {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("no Moderator column in %v", heads)
	}
	page.Find("#matrix tbody tr").Each(func(_ int, tr *goquery.Selection) {
		row := tr.Find("th").Text()
		cell := strings.TrimSpace(tr.Children().Eq(col).Text())
		switch {
		case strings.Contains(row, engine.TypeAddDocument) && cell != "execute":
			t.Errorf("Moderator on add_document: %q, want execute", cell)
		case strings.Contains(row, engine.TypeAddRole) && cell != "propose":
			t.Errorf("Moderator on add_role: %q, want propose", cell)
		}
	})
	if got := page.Find(fmt.Sprintf("#role-%d ul", r.ID)).Text(); !strings.Contains(got, "Roler") {
		t.Errorf("members of Moderator: %q", got)
	}
	_, form := b.get(fmt.Sprintf("/c/%s/propose/%s?role=%d", slug, engine.TypeEditRole, r.ID))
	if form.Find(`input[name="permissions.execute"][value="constitution.add_document"][checked]`).Length() != 1 ||
		form.Find(`input[name="permissions.propose"][value="constitution.*"][checked]`).Length() != 1 {
		t.Error("the edit form does not show the role's permissions")
	}
	// The execute permission now carries a new document out at once, without a proposal.
	where := b.propose(slug, engine.TypeAddDocument, url.Values{"title": {"Fast"}, "body": {"At once."}})
	if !strings.Contains(where, "/actions/") {
		t.Fatalf("an executed action should lead to its action page, got %s", where)
	}
	if _, doc := b.get(where); !strings.Contains(doc.Text(), "carried out at once") {
		t.Errorf("the action page does not explain the decision: %q", doc.Find("main").Text())
	}
}

// TestAuditLogFilterExportVerify: the log filters, exports and verifies, and a tampered
// event fails verification.
func TestAuditLogFilterExportVerify(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Auditor")
	slug := b.createCommunity("Audited")
	where := b.propose(slug, engine.TypeAddDocument, url.Values{"title": {"One"}, "body": {"1"}})
	pid := where[strings.LastIndex(where, "/")+1:]
	b.propose(slug, engine.TypeAddDocument, url.Values{"title": {"Two"}, "body": {"2"}})

	_, all := b.get("/c/" + slug + "/audit")
	_, one := b.get("/c/" + slug + "/audit?proposal=" + pid)
	if n, m := all.Find("tbody tr").Length(), one.Find("tbody tr").Length(); m == 0 || m >= n {
		t.Errorf("filtering by proposal kept %d of %d events", m, n)
	}
	_, kind := b.get("/c/" + slug + "/audit?kind=proposal.created")
	if n := kind.Find("tbody tr").Length(); n != 2 {
		t.Errorf("%d proposal.created events, want 2", n)
	}
	if status, _ := b.get("/c/" + slug + "/audit?since=yesterday"); status != http.StatusBadRequest {
		t.Errorf("a malformed date: %d", status)
	}

	resp, err := b.client.Get(app.srv.URL + "/c/" + slug + "/audit/export?format=json")
	if err != nil {
		t.Fatal(err)
	}
	var exported struct {
		Events []struct {
			Seq  int64
			Hash string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&exported); err != nil || len(exported.Events) != all.Find("tbody tr").Length() {
		t.Fatalf("JSON export: %v, %d events", err, len(exported.Events))
	}
	resp.Body.Close()
	resp, err = b.client.Get(app.srv.URL + "/c/" + slug + "/audit/export?format=csv&kind=proposal.created")
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(records) != 3 || records[0][0] != "seq" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV export: %v, %d records", err, len(records))
	}

	_, frag := b.htmx("POST", "/c/"+slug+"/audit/verify", url.Values{})
	if got := frag.Find("#audit-report").Text(); !strings.Contains(got, "Verified") {
		t.Fatalf("verify on an intact log: %q", got)
	}
	app.store.DB().Exec("UPDATE audit_events SET payload = ? WHERE seq = 3", `{"forged":true}`)
	_, page := b.post("/c/"+slug+"/audit/verify", url.Values{})
	if got := page.Find("#audit-report").Text(); !strings.Contains(got, "broken at event 3") {
		t.Fatalf("verify on a tampered log: %q", got)
	}
}

// TestTokensCreateShowOnceRevoke: a token is shown once, works on the API, and stops working
// when revoked.
func TestTokensCreateShowOnceRevoke(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Scripter")
	b.get("/account/tokens")
	if resp, doc := b.post("/account/tokens", url.Values{"name": {""}}); resp.StatusCode != http.StatusUnprocessableEntity || doc.Find("#e-name").Length() != 1 {
		t.Fatalf("an unnamed token: %d", resp.StatusCode)
	}
	_, doc := b.post("/account/tokens", url.Values{"name": {"ci script"}})
	token, _ := doc.Find(`input[aria-label="New API token"]`).Attr("value")
	if !strings.HasPrefix(token, "pk_") {
		t.Fatalf("no token shown: %q", token)
	}
	if status := app.api("GET", "/api/v1/me", token, nil, nil); status != http.StatusOK {
		t.Fatalf("the new token does not work: %d", status)
	}
	_, again := b.get("/account/tokens")
	if strings.Contains(again.Text(), token) || again.Find("#new-token").Length() != 0 {
		t.Fatal("the token is shown a second time")
	}
	if !strings.Contains(again.Find("tbody").Text(), token[:8]) {
		t.Error("the list does not show the token's prefix")
	}
	action, _ := again.Find(`form[action$="/revoke"]`).Attr("action")
	if resp, _ := b.post(action, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if status := app.api("GET", "/api/v1/me", token, nil, nil); status != http.StatusUnauthorized {
		t.Fatalf("a revoked token still works: %d", status)
	}
}

// TestVoteControlsFitTheBallotKind: each ballot kind gets its own controls, and a vote
// cast with them is recorded and shown.
func TestVoteControlsFitTheBallotKind(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Voter")
	slug := b.createCommunity("Ballots")
	tests := []struct {
		kind, control string
		vote          url.Values
		want          string
	}{
		{"consensus", `button[value="block"]`, url.Values{"value": {"block"}}, "You voted block"},
		{"choice", `input[type=radio][value="green"]`, url.Values{"value": {"green"}}, "You voted green"},
		{"approval", `input[type=checkbox][value="blue"]`, url.Values{"value": {"red", "blue"}}, "You voted red, blue"},
		{"ranking", `select#rank-2`, url.Values{"value": {"blue", "red", ""}}, "You voted blue, red"},
		{"score", `input[type=number][name="score.red"]`, url.Values{"score.red": {"3"}, "score.green": {"5"}}, "You voted green: 5, red: 3"},
	}
	for i, tt := range tests {
		opts := `, {options: ["red", "green", "blue"]}`
		if tt.kind == "consensus" {
			opts = ""
		}
		b.propose(slug, engine.TypeAddPolicy, url.Values{"kind": {"constitution"}, "name": {"Vote by " + tt.kind},
			"action_types": {engine.TypeAddDocument}, "priority": {fmt.Sprint(i + 1)},
			"filter": {fmt.Sprintf("action.params.title == %q", tt.kind)},
			"notify": {fmt.Sprintf("start_vote(%q%s)", tt.kind, opts)}, "check": {"PENDING"}})
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			where := b.propose(slug, engine.TypeAddDocument, url.Values{"title": {tt.kind}, "body": {"?"}})
			_, page := b.get(where)
			if page.Find("#vote "+tt.control).Length() == 0 {
				t.Fatalf("no %s control for a %s ballot", tt.control, tt.kind)
			}
			if resp, _ := b.post(where+"/votes", tt.vote); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("vote: %d", resp.StatusCode)
			}
			_, page = b.get(where)
			if got := page.Find("#my-vote").Text(); !strings.Contains(got, tt.want) {
				t.Errorf("my vote: %q, want %q", got, tt.want)
			}
		})
	}
	where := b.propose(slug, engine.TypeAddDocument, url.Values{"title": {"score"}, "body": {"again"}})
	b.get(where)
	resp, page := b.post(where+"/votes", url.Values{"score.red": {"9"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page.Find("#vote-error").Text(), "0 to 5") {
		t.Errorf("an out-of-range score: %d %q", resp.StatusCode, page.Find("#vote-error").Text())
	}
}

// TestProposalsListFiltersAndPages: the list filters by status, type and policy, and pages
// by keyset links.
func TestProposalsListFiltersAndPages(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Lister")
	slug := b.createCommunity("Lists")
	for i := 0; i < 3; i++ {
		b.propose(slug, engine.TypeAddDocument, url.Values{"title": {fmt.Sprintf("Doc %d", i)}, "body": {"x"}})
	}
	b.propose(slug, engine.TypeAddRole, url.Values{"name": {"Helper"}})
	// A policy that keeps role changes pending, so the statuses differ.
	b.propose(slug, engine.TypeAddPolicy, url.Values{"kind": {"constitution"}, "name": {"Hold roles"},
		"action_types": {engine.TypeAddRole}, "priority": {"1"}, "check": {"PENDING"}})
	b.propose(slug, engine.TypeAddRole, url.Values{"name": {"Waiter"}})
	hold := app.policyID(slug, "Hold roles")

	count := func(query string) int {
		t.Helper()
		status, doc := b.get("/c/" + slug + "/proposals" + query)
		if status != http.StatusOK {
			t.Fatalf("%s: %d", query, status)
		}
		return doc.Find("main tbody tr").Length()
	}
	tests := []struct {
		query string
		want  int
	}{
		{"", 6},
		{"?status=pending", 1},
		{"?status=passed", 5},
		{"?type=" + engine.TypeAddDocument, 3},
		{"?type=" + engine.TypeAddRole, 2},
		{fmt.Sprintf("?policy=%d", hold), 1},
		{"?status=failed", 0},
	}
	for _, tt := range tests {
		if got := count(tt.query); got != tt.want {
			t.Errorf("proposals%s: %d rows, want %d", tt.query, got, tt.want)
		}
	}
	if status, _ := b.get("/c/" + slug + "/proposals?status=maybe"); status != http.StatusBadRequest {
		t.Errorf("a bad status filter: %d", status)
	}
	// Keyset pages through the API's limit: 6 proposals in pages of 4.
	var seen []int64
	next := "?limit=4"
	for next != "" {
		_, doc := b.get("/c/" + slug + "/proposals" + next)
		doc.Find("main tbody tr td:first-child").Each(func(_ int, s *goquery.Selection) {
			seen = append(seen, atoi(t, s.Text()))
		})
		href, ok := doc.Find(`a[rel="next"]`).Attr("href")
		next = ""
		if ok {
			next = href[strings.Index(href, "?"):]
		}
	}
	if len(seen) != 6 || seen[0] <= seen[5] {
		t.Errorf("paging saw %v, want all 6 newest first", seen)
	}
}

// TestStagePoliciesSayWhoseStageTheyAre: a bundle's later stage is an inactive policy of its
// own; the list and its page name the policy it belongs to instead of calling it removed.
func TestStagePoliciesSayWhoseStageTheyAre(t *testing.T) {
	app := newTestApp(t)
	b := app.browser()
	b.signup("Stager")
	slug := b.createCommunity("Stagers")
	b.propose(slug, engine.TypeAddPolicy, url.Values{"kind": {"platform"}, "name": {"Two steps"}, "priority": {"3"},
		"check": {"PASSED"}, "stage_policies": {`[{"check": "PASSED", "rule": "Then it passes."}]`}})
	bundle := app.policyID(slug, "Two steps")
	_, list := b.get("/c/" + slug + "/policies")
	row := list.Find("tr").FilterFunction(func(_ int, s *goquery.Selection) bool { return strings.Contains(s.Text(), "Two steps · stage 2") })
	if row.Length() != 1 || !strings.Contains(row.Text(), "as stage 2 of Two steps") || strings.Contains(row.Text(), "removed") {
		t.Fatalf("stage row: %q", row.Text())
	}
	href, _ := row.Find(`a[href*="/policies/"]`).Last().Attr("href")
	if href != fmt.Sprintf("/c/%s/policies/%d", slug, bundle) {
		t.Fatalf("the stage row links to %q", href)
	}
	stage, _ := row.Find(`a[href*="/policies/"]`).First().Attr("href")
	_, page := b.get(stage)
	if text := page.Find("hgroup p").Text(); !strings.Contains(text, "stage 2 of Two steps") {
		t.Fatalf("stage policy page: %q", text)
	}
}
