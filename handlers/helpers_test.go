package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"policykit/engine"
	"policykit/handlers"
	"policykit/models"
	"policykit/models/modelstest"
	"policykit/static"
	"policykit/templates"
)

// testApp is the real router on a real database, served over loopback.
type testApp struct {
	t      *testing.T
	store  *models.Store
	engine *engine.Engine
	srv    *httptest.Server
	routes gin.RoutesInfo
}

// newTestApp serves the app with the given platforms registered (none in production yet).
func newTestApp(t *testing.T, platforms ...engine.Platform) *testApp {
	t.Helper()
	return newTestAppLogging(t, io.Discard, platforms...)
}

// newTestAppLogging is newTestApp with the server's log written to logs.
func newTestAppLogging(t *testing.T, logs io.Writer, platforms ...engine.Platform) *testApp {
	t.Helper()
	store := modelstest.Open(t)
	app := &testApp{t: t, store: store}
	mux := http.NewServeMux()
	app.srv = httptest.NewServer(mux)
	t.Cleanup(app.srv.Close)
	r, eng := newRouter(t, store, app.srv.URL, logs, platforms...)
	app.engine = eng
	app.routes = r.Routes()
	mux.Handle("/", r)
	return app
}

// newRouter builds the real router on store, for tests and benchmarks.
func newRouter(tb testing.TB, store *models.Store, baseURL string, logs io.Writer, platforms ...engine.Platform) (*gin.Engine, *engine.Engine) {
	tb.Helper()
	gin.SetMode(gin.TestMode)
	eng, err := engine.New(store, engine.Options{Platforms: platforms, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := handlers.New(handlers.Config{BaseURL: baseURL, Version: "test"}, handlers.Deps{
		Engine: eng, Store: store, Log: slog.New(slog.NewTextHandler(logs, nil)),
		Templates: templates.FS, Static: static.FS, Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return h.Router(), eng
}

// browser is one visitor with its own cookies.
type browser struct {
	app    *testApp
	client *http.Client
	csrf   string
}

func (a *testApp) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{app: a, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// get fetches a page, remembers its CSRF token, and returns status and document.
func (b *browser) get(path string) (int, *goquery.Document) {
	b.app.t.Helper()
	resp, err := b.client.Get(b.app.srv.URL + path)
	if err != nil {
		b.app.t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		b.app.t.Fatal(err)
	}
	if tok, ok := doc.Find(`input[name="csrf_token"]`).First().Attr("value"); ok {
		b.csrf = tok
	}
	return resp.StatusCode, doc
}

// post submits a form with the remembered CSRF token (unless the form sets csrf_token).
func (b *browser) post(path string, form url.Values) (*http.Response, *goquery.Document) {
	b.app.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf_token"]; !ok {
		if b.csrf == "" {
			b.get("/")
		}
		form.Set("csrf_token", b.csrf)
	}
	resp, err := b.client.PostForm(b.app.srv.URL+path, form)
	if err != nil {
		b.app.t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, _ := goquery.NewDocumentFromReader(resp.Body)
	return resp, doc
}

// signup creates an account through the form and leaves the browser signed in.
func (b *browser) signup(name string) {
	b.app.t.Helper()
	b.get("/signup")
	email := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.org"
	resp, _ := b.post("/signup", url.Values{"name": {name}, "email": {email}, "password": {"correct horse battery"}})
	if resp.StatusCode != http.StatusSeeOther {
		b.app.t.Fatalf("sign up %s: status %d", name, resp.StatusCode)
	}
}

// createCommunity creates a community through the form with the "everything passes" kit
// (every proposal passes at once) and returns its slug.
func (b *browser) createCommunity(name string) string {
	b.app.t.Helper()
	return b.createCommunityWithKit(name, engine.KitEverythingPasses)
}

// createCommunityWithKit creates a community through the onboarding form and returns its slug.
func (b *browser) createCommunityWithKit(name, kit string) string {
	b.app.t.Helper()
	resp, _ := b.post("/communities", url.Values{"name": {name}, "starter_kit": {kit}})
	if resp.StatusCode != http.StatusSeeOther {
		b.app.t.Fatalf("create community: status %d", resp.StatusCode)
	}
	return strings.TrimPrefix(resp.Header.Get("Location"), "/c/")
}

// api calls the JSON API with a bearer token and decodes the answer into out (if not nil).
func (a *testApp) api(method, path, token string, body io.Reader, out any) int {
	a.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), method, a.srv.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// token issues an API token for the account with this email.
func (a *testApp) token(email string) string {
	a.t.Helper()
	acct, err := a.store.AccountByEmail(context.Background(), email)
	if err != nil {
		a.t.Fatal(err)
	}
	_, clear, err := a.store.CreateAPIToken(context.Background(), acct.ID, "test")
	if err != nil {
		a.t.Fatal(err)
	}
	return clear
}

// count returns the number of rows in a table, to prove bad input wrote nothing.
func (a *testApp) count(table string) int64 {
	a.t.Helper()
	var n int64
	if err := a.store.DB().Table(table).Count(&n).Error; err != nil {
		a.t.Fatal(err)
	}
	return n
}

type apiErr struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// propose submits a propose form and returns the proposal page's path (or the action
// page's, when a permission decided at once). It fails the test unless the form was accepted.
func (b *browser) propose(slug, typ string, form url.Values) string {
	b.app.t.Helper()
	b.get("/c/" + slug + "/propose/" + typ)
	resp, doc := b.post("/c/"+slug+"/propose/"+typ, form)
	if resp.StatusCode != http.StatusSeeOther {
		b.app.t.Fatalf("propose %s: status %d: %s", typ, resp.StatusCode, strings.TrimSpace(doc.Find(".field-error, .flash.error").Text()))
	}
	return resp.Header.Get("Location")
}

// documentID finds a community's document by title.
func (a *testApp) documentID(slug, title string) int64 {
	a.t.Helper()
	ctx := context.Background()
	c, err := a.store.CommunityBySlug(ctx, slug)
	if err != nil {
		a.t.Fatal(err)
	}
	docs, err := a.store.Documents(ctx, c.ID)
	if err != nil {
		a.t.Fatal(err)
	}
	for _, d := range docs {
		if d.Title == title {
			return d.ID
		}
	}
	a.t.Fatalf("no document %q in %s", title, slug)
	return 0
}
