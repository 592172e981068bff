package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"policykit/engine"
	"policykit/models"
)

// world is two communities: Alice's A and Bob's B, each with a document, a proposal, an
// action and policies, and a token each.
type world struct {
	app          *testApp
	alice, bob   *browser
	a, b         string
	ids          map[string]map[string]string // community → route segment → an id of it
	aliceToken   string
	bobTokenID   string
	inviteA      string
	tablesBefore map[string]int64
}

func newWorld(t *testing.T) *world {
	t.Helper()
	app := newTestApp(t)
	w := &world{app: app, alice: app.browser(), bob: app.browser(), ids: map[string]map[string]string{}}
	w.alice.signup("Alice")
	w.bob.signup("Bob")
	w.a = w.alice.createCommunity("Community A")
	w.b = w.bob.createCommunity("Community B")
	for slug, br := range map[string]*browser{w.a: w.alice, w.b: w.bob} {
		where := br.propose(slug, engine.TypeAddDocument, url.Values{"title": {"Secret of " + slug}, "body": {"only for " + slug}})
		pid := where[strings.LastIndex(where, "/")+1:]
		ctx := context.Background()
		c, _ := app.store.CommunityBySlug(ctx, slug)
		p, err := app.store.ProposalByID(ctx, c.ID, atoi(t, pid))
		if err != nil {
			t.Fatal(err)
		}
		pols, _ := app.store.Policies(ctx, c.ID)
		w.ids[slug] = map[string]string{
			"proposals": pid, "actions": fmt.Sprint(p.ActionID), "policies": fmt.Sprint(pols[0].ID),
			"documents": fmt.Sprint(app.documentID(slug, "Secret of "+slug)),
		}
	}
	w.aliceToken = app.token("alice@example.org")
	bobAcct, _ := app.store.AccountByEmail(context.Background(), "bob@example.org")
	tok, _, _ := app.store.CreateAPIToken(context.Background(), bobAcct.ID, "bob's")
	w.bobTokenID = fmt.Sprint(tok.ID)
	_, doc := w.alice.post("/c/"+w.a+"/invites", nil)
	link, _ := doc.Find(`input[aria-label="Invite link"]`).Attr("value")
	w.inviteA = link[strings.LastIndex(link, "/")+1:]
	return w
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("not an id: %q", s)
	}
	return n
}

// fill puts values into a route's parameters: the community slug, ids of the named
// community, a real action type, an invite code.
func (w *world) fill(route, slug, idsOf string) string {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		switch p {
		case ":slug":
			parts[i] = slug
		case ":type":
			parts[i] = engine.TypeAddDocument
		case ":code":
			parts[i] = w.inviteA
		case ":id":
			if parts[i-1] == "tokens" {
				parts[i] = w.bobTokenID
			} else {
				parts[i] = w.ids[idsOf][parts[i-1]]
			}
		}
	}
	return strings.Join(parts, "/")
}

var governanceTables = []string{"accounts", "sessions", "api_tokens", "communities", "members", "member_roles", "roles",
	"role_permissions", "invites", "documents", "document_versions", "policies", "policy_versions", "actions", "proposals",
	"votes", "effects", "audit_events"}

func (w *world) snapshot() map[string]int64 {
	out := map[string]int64{}
	for _, t := range governanceTables {
		out[t] = w.app.count(t)
	}
	return out
}

func (w *world) unchanged(t *testing.T, before map[string]int64, what string) {
	t.Helper()
	for tbl, n := range w.snapshot() {
		if n != before[tbl] {
			t.Errorf("%s changed %s: %d → %d rows", what, tbl, before[tbl], n)
		}
	}
}

// TestEveryCommunityRouteIsolatesTenants walks the router: every page and API route that
// names a community answers 404 to a non-member (B's slug), and every route with an id
// answers 404 to B's id through A's own address. Nothing is written.
func TestEveryCommunityRouteIsolatesTenants(t *testing.T) {
	w := newWorld(t)
	w.alice.get("/c/" + w.a)
	before := w.snapshot()
	form := url.Values{"title": {"Hijack"}, "body": {"x"}, "value": {"yes"}, "name": {"x"}}
	checked := 0
	for _, r := range w.app.routes {
		isAPI := strings.HasPrefix(r.Path, "/api/v1/communities/:slug")
		if !isAPI && !strings.HasPrefix(r.Path, "/c/:slug") && !strings.HasPrefix(r.Path, "/account/tokens/:id") {
			continue
		}
		var paths []string
		if strings.Contains(r.Path, ":slug") {
			paths = append(paths, w.fill(r.Path, w.b, w.b)) // B's community
		}
		if strings.Contains(r.Path, ":id") {
			paths = append(paths, w.fill(r.Path, w.a, w.b)) // B's ids through A
		}
		for _, p := range paths {
			checked++
			var status int
			var text string
			switch {
			case isAPI:
				var e apiErr
				body := `{"type":"constitution.add_document","params":{"title":"x","body":"y"}}`
				if strings.HasSuffix(r.Path, "/votes") {
					body = `{"value":"yes"}`
				}
				status = w.app.api(r.Method, p, w.aliceToken, strings.NewReader(body), &e)
				text = e.Error.Code
			case r.Method == http.MethodGet:
				var st int
				st, doc := w.alice.get(p)
				status, text = st, doc.Text()
			default:
				resp, doc := w.alice.post(p, form)
				status, text = resp.StatusCode, doc.Text()
			}
			if status != http.StatusNotFound {
				t.Errorf("%s %s as a non-member: %d, want 404", r.Method, p, status)
			}
			if strings.Contains(text, "Secret of "+w.b) {
				t.Errorf("%s %s leaked B's document", r.Method, p)
			}
		}
	}
	if checked < 25 {
		t.Fatalf("only %d community routes checked; the walk is broken", checked)
	}
	w.unchanged(t, before, "requests from a non-member")
}

// TestEveryFormNeedsCSRF walks the router: every state-changing page route refuses a
// request without the CSRF token (403) and writes nothing, even from a signed-in member.
func TestEveryFormNeedsCSRF(t *testing.T) {
	w := newWorld(t)
	before := w.snapshot()
	checked := 0
	for _, r := range w.app.routes {
		if r.Method != http.MethodPost || strings.HasPrefix(r.Path, "/api/") {
			continue
		}
		p := w.fill(r.Path, w.a, w.a)
		if strings.HasPrefix(r.Path, "/account/tokens/:id") {
			tok, _, _ := w.app.store.CreateAPIToken(context.Background(), mustAccount(t, w.app, "alice@example.org"), "x")
			p = fmt.Sprintf("/account/tokens/%d/revoke", tok.ID)
			before = w.snapshot()
		}
		for _, token := range []string{"", "forged-forged-forged-forged"} {
			checked++
			resp, _ := w.alice.post(p, url.Values{"csrf_token": {token}, "title": {"T"}, "body": {"B"}, "value": {"yes"},
				"name": {"N"}, "starter_kit": {"democracy"}, "email": {"n@example.org"}, "password": {"long enough"}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with token %q: %d, want 403", p, token, resp.StatusCode)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d form routes checked", checked)
	}
	w.unchanged(t, before, "requests without a CSRF token")
	var revoked int64
	w.app.store.DB().Model(&models.APIToken{}).Where("revoked_at IS NOT NULL").Count(&revoked)
	if revoked != 0 {
		t.Error("a token was revoked without a CSRF token")
	}
}

func mustAccount(t *testing.T, app *testApp, email string) int64 {
	t.Helper()
	a, err := app.store.AccountByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}
