package handlers_test

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/models"
)

// testPlugin is a platform plug-in written in a test, with no other platform's code: it proves that the
// website's generic routes, the engine's connection hooks and the shared inbox are all a new
// platform needs. Delivery is enginetest's recording platform; its "OAuth provider" is a
// small consent server that sends the browser back with a code naming the user who agreed.
type testPlugin struct {
	*enginetest.Platform
	eng      *engine.Engine
	inbox    *engine.Inbox
	callback string
	consent  *httptest.Server

	// form makes it a platform connected by a credentials form (a space and its secret)
	// instead of a consent page.
	form bool

	mu    sync.Mutex
	codes map[string]string // code → user who consented
}

func (p *testPlugin) Info() engine.PlatformInfo {
	info := p.Platform.Info()
	if p.form {
		info.Connect, info.ConnectLabel = engine.ConnectForm, "Connect the space"
		info.Fields = []engine.CredentialField{{Name: "space", Label: "Space id"}, {Name: "secret", Label: "Space secret", Secret: true, Help: "from the space's settings"}}
	}
	return info
}

const (
	testSpace  = "S1"
	testSecret = "webhook-secret"
)

func newTestPlugin(t *testing.T, host engine.Host) *testPlugin {
	p := &testPlugin{Platform: enginetest.NewPlatform(), eng: host.Engine, inbox: host.Inbox, callback: host.CallbackURL("test"), codes: map[string]string{}}
	p.consent = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("as") == "" { // the consent page itself
			fmt.Fprint(w, "consent")
			return
		}
		code := models.RandomCode(8)
		p.mu.Lock()
		p.codes[code] = q.Get("as")
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusSeeOther)
	}))
	t.Cleanup(p.consent.Close)
	return p
}

func (p *testPlugin) AuthorizeURL(purpose, state string) string {
	return p.consent.URL + "/authorize?" + url.Values{"purpose": {purpose}, "state": {state}, "redirect_uri": {p.callback}}.Encode()
}

// user is who consented, for a code; a code is used once.
func (p *testPlugin) user(in url.Values) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.codes[in.Get("code")]
	delete(p.codes, in.Get("code"))
	if !ok {
		return "", models.Invalid("code", "unknown authorization code")
	}
	return u, nil
}

func (p *testPlugin) Connect(ctx context.Context, c *models.Community, by *models.Member, in url.Values) (*models.PlatformConnection, error) {
	if p.form { // checked with the platform before anything is stored
		if in.Get("space") != testSpace || in.Get("secret") != "s3cret" {
			return nil, models.Invalid("secret", "the platform did not accept this space id and secret")
		}
		conn := &models.PlatformConnection{CommunityID: c.ID, Platform: "test", ExternalID: testSpace, Name: "Test space", Status: models.ConnectionAwaiting}
		return conn, p.eng.Store().SaveConnection(ctx, conn, map[string]string{"secret": in.Get("secret")})
	}
	u, err := p.user(in)
	if err != nil {
		return nil, err
	}
	store := p.eng.Store()
	conn := &models.PlatformConnection{CommunityID: c.ID, Platform: "test", ExternalID: testSpace, Name: "Test space", Status: models.ConnectionAwaiting}
	if existing, err := store.ConnectionOf(ctx, c.ID, "test"); err == nil {
		conn.Status = existing.Status
	}
	if err := store.SaveConnection(ctx, conn, map[string]string{"token": "secret-token"}); err != nil {
		return nil, err
	}
	return conn, store.ClaimIdentity(ctx, models.PlatformIdentity{CommunityID: c.ID, MemberID: by.ID, Platform: "test", ExternalID: u, Username: strings.ToLower(u)})
}

func (p *testPlugin) SignIn(ctx context.Context, callback url.Values) (*models.Account, *models.Community, error) {
	u, err := p.user(callback)
	if err != nil {
		return nil, nil, err
	}
	store := p.eng.Store()
	conn, err := store.ConnectionByExternalID(ctx, "test", testSpace)
	if err != nil {
		return nil, nil, err
	}
	c, err := store.CommunityByID(ctx, conn.CommunityID)
	if err != nil {
		return nil, nil, err
	}
	m, err := p.memberFor(ctx, c.ID, u)
	if err != nil {
		return nil, nil, err
	}
	if m.AccountID != nil {
		acct, err := store.AccountByID(ctx, *m.AccountID)
		return acct, c, err
	}
	acct, err := store.PlatformAccount(ctx, u, strings.ToLower(u)+"@test.invalid")
	if err != nil {
		return nil, nil, err
	}
	return acct, c, store.LinkAccount(ctx, c.ID, m.ID, acct.ID)
}

func (p *testPlugin) Link(ctx context.Context, c *models.Community, m *models.Member, callback url.Values) error {
	u, err := p.user(callback)
	if err != nil {
		return err
	}
	return p.eng.Store().ClaimIdentity(ctx, models.PlatformIdentity{CommunityID: c.ID, MemberID: m.ID, Platform: "test", ExternalID: u, Username: strings.ToLower(u)})
}

func (p *testPlugin) memberFor(ctx context.Context, communityID int64, user string) (*models.Member, error) {
	store := p.eng.Store()
	if _, err := store.AddPlatformMembers(ctx, communityID, "test", testSpace, []models.NewPlatformMember{{ExternalID: user, Username: strings.ToLower(user)}}); err != nil {
		return nil, err
	}
	return store.MemberByIdentity(ctx, communityID, "test", user)
}

// testEvent is what the test platform sends to its webhook.
type testEvent struct {
	ID    string `json:"id"`
	Space string `json:"space"`
	User  string `json:"user"`
	Text  string `json:"text"`
}

func (p *testPlugin) Webhooks() map[string]http.Handler {
	return map[string]http.Handler{"/integrations/test/events": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Test-Secret")), []byte(testSecret)) != 1 {
			http.Error(w, "bad secret", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		var ev testEvent
		if err != nil || json.Unmarshal(body, &ev) != nil || ev.ID == "" {
			http.Error(w, "malformed event", http.StatusBadRequest)
			return
		}
		if _, err := p.inbox.Accept(r.Context(), models.InboundDelivery{Platform: "test", Key: "event:" + ev.ID, Kind: "event", Body: string(body)}, time.Hour); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})}
}

// Receive governs a post as test.post_message, once per delivery.
func (p *testPlugin) Receive(ctx context.Context, d models.InboundDelivery) error {
	var ev testEvent
	if err := json.Unmarshal([]byte(d.Body), &ev); err != nil {
		return err
	}
	conn, err := p.eng.Store().ConnectionByExternalID(ctx, "test", ev.Space)
	if errors.Is(err, models.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if governed, err := p.eng.Governs(ctx, conn); err != nil || !governed {
		return err
	}
	m, err := p.memberFor(ctx, conn.CommunityID, ev.User)
	if err != nil {
		return err
	}
	_, err = p.eng.Submit(ctx, engine.Submission{CommunityID: conn.CommunityID, Type: "test.post_message", InitiatorID: m.ID,
		Params: map[string]any{"channel": "C1", "text": ev.Text}, Origin: models.OriginPlatform,
		Receipt: &engine.Receipt{Platform: d.Platform, Key: d.Key}})
	return err
}

func newTestPluginApp(t *testing.T) (*testApp, *testPlugin) {
	return newTestPluginAppWith(t, false)
}

func newTestPluginAppWith(t *testing.T, form bool) (*testApp, *testPlugin) {
	var tp *testPlugin
	app := newPluginApp(t, func(h engine.Host) []plugin {
		tp = newTestPlugin(t, h)
		tp.form = form
		return []plugin{{Platform: tp, Connector: tp}}
	})
	return app, tp
}

// consentAs goes through the test platform's consent page from path, agreeing as user, and
// returns the callback's answer: status and where it sends the browser.
func (b *browser) consentAs(path, user string) (int, string) {
	b.app.t.Helper()
	resp, _ := b.getRaw(path)
	if resp.StatusCode != http.StatusSeeOther {
		b.app.t.Fatalf("%s: %d, want a redirect to the consent page", path, resp.StatusCode)
	}
	back, _ := b.getRaw(resp.Header.Get("Location") + "&as=" + user)
	if back.StatusCode != http.StatusSeeOther {
		b.app.t.Fatalf("consent page: %d", back.StatusCode)
	}
	done, _ := b.getRaw(back.Header.Get("Location"))
	return done.StatusCode, done.Header.Get("Location")
}

// getRaw fetches an absolute URL or a path on the app, without following redirects.
func (b *browser) getRaw(target string) (*http.Response, string) {
	b.app.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.app.srv.URL + target
	}
	resp, err := b.client.Get(target)
	if err != nil {
		b.app.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (a *testApp) postEvent(ev testEvent, secret string) int {
	a.t.Helper()
	body, _ := json.Marshal(ev)
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/integrations/test/events", strings.NewReader(string(body)))
	req.Header.Set("X-Test-Secret", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.inbox.Flush(ctx); err != nil {
		a.t.Fatal(err)
	}
	return resp.StatusCode
}

func (a *testApp) deliver() {
	a.t.Helper()
	if _, err := a.engine.DeliverDue(context.Background(), "test"); err != nil {
		a.t.Fatal(err)
	}
}

// TestAPlatformIsOnePlugin: a platform registered in a test connects through the generic
// routes and the engine's set-up hook, is listed in the navigation and on the sign-in page,
// governs its events through the shared inbox, lets its users sign in and link accounts, and
// is disconnected through a governed proposal and the engine's tear-down hook.
func TestAPlatformIsOnePlugin(t *testing.T) {
	app, tp := newTestPluginApp(t)
	ctx := context.Background()
	founder := app.browser()
	founder.signup("Ada Founder")
	slug := founder.createCommunity("Plug Club")
	comm, _ := app.store.CommunityBySlug(ctx, slug)

	_, doc := founder.get("/c/" + slug)
	href, ok := doc.Find(`nav[aria-label="Community"] a:contains("Test platform")`).Attr("href")
	if !ok || href != "/c/"+slug+"/platforms/test" {
		t.Fatalf("the navigation does not list the test platform: %q", href)
	}
	if status, page := founder.get(href); status != http.StatusOK || !strings.Contains(page.Text(), "No space is connected") ||
		page.Find(`a[href="/c/`+slug+`/platforms/test/connect"]`).Length() != 1 {
		t.Fatalf("platform page before connecting: %d\n%s", status, page.Text())
	}
	if status, _ := founder.get("/c/" + slug + "/platforms/nonesuch"); status != http.StatusNotFound {
		t.Fatalf("a platform this server does not run: %d", status)
	}

	// Events before the connection exists are dropped; connecting is governed (here it
	// passes at once) and the engine's set-up hook runs when the effect is delivered.
	if status := app.postEvent(testEvent{ID: "e0", Space: testSpace, User: "U2", Text: "too early"}, testSecret); status != http.StatusOK {
		t.Fatalf("event: %d", status)
	}
	status, loc := founder.consentAs("/c/"+slug+"/platforms/test/connect", "U1")
	if status != http.StatusSeeOther || loc != "/c/"+slug+"/platforms/test?done=approved" {
		t.Fatalf("connect callback: %d → %q", status, loc)
	}
	conn, err := app.store.ConnectionOf(ctx, comm.ID, "test")
	if err != nil || conn.Status != models.ConnectionApproved {
		t.Fatalf("after approval: %+v %v", conn, err)
	}
	app.deliver()
	if conn, _ = app.store.ConnectionOf(ctx, comm.ID, "test"); conn.Status != models.ConnectionConnected || len(tp.Calls("set_up")) != 1 {
		t.Fatalf("after set-up: %q, %d set-up calls", conn.Status, len(tp.Calls("set_up")))
	}
	_, page := founder.get("/c/" + slug + "/platforms/test")
	if !strings.Contains(page.Find("#platform-me").Text(), "@u1") || page.Find("#platform-status").Text() != "connected" {
		t.Fatalf("platform page after connecting:\n%s", page.Text())
	}

	// An event through the webhook and the shared inbox is governed once, even if sent twice.
	if status := app.postEvent(testEvent{ID: "e1", Space: testSpace, User: "U2", Text: "hello"}, "forged"); status != http.StatusUnauthorized {
		t.Fatalf("forged event: %d", status)
	}
	for range 2 {
		if status := app.postEvent(testEvent{ID: "e1", Space: testSpace, User: "U2", Text: "hello"}, testSecret); status != http.StatusOK {
			t.Fatalf("event: %d", status)
		}
	}
	var posts []models.Action
	app.store.DB().Where("community_id = ? AND type = ?", comm.ID, "test.post_message").Find(&posts)
	if len(posts) != 1 || posts[0].Origin != models.OriginPlatform || posts[0].Params["text"] != "hello" {
		t.Fatalf("governed posts: %+v", posts)
	}

	// Sign in with the platform: a new login tied to U2's member.
	if _, doc := app.browser().get("/signin"); doc.Find(`a[href="/integrations/test/signin"]`).Length() != 1 {
		t.Fatal("the sign-in page does not offer signing in with the test platform")
	}
	u2 := app.browser()
	if status, loc := u2.consentAs("/integrations/test/signin", "U2"); status != http.StatusSeeOther || loc != "/c/"+slug {
		t.Fatalf("sign in: %d → %q", status, loc)
	}
	if status, _ := u2.get("/c/" + slug); status != http.StatusOK {
		t.Fatalf("signed in, but not in the community: %d", status)
	}

	// Link: a web member links their platform account; a callback another browser started
	// is refused.
	carol := app.browser()
	carol.signup("Carol Web")
	inv, err := app.store.CreateInvite(ctx, comm.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := app.store.AccountByEmail(ctx, "carol.web@example.org")
	_, carolMember, err := app.store.AcceptInvite(ctx, inv.Code, acct)
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := carol.consentAs("/c/"+slug+"/platforms/test/link", "U3"); status != http.StatusSeeOther {
		t.Fatalf("link: %d", status)
	}
	if m, err := app.store.MemberByIdentity(ctx, comm.ID, "test", "U3"); err != nil || m.ID != carolMember.ID {
		t.Fatalf("U3 is linked to %+v (%v), want carol's member", m, err)
	}
	// The members page shows every account a member has linked.
	_, doc = carol.get("/c/" + slug + "/members")
	row := doc.Find(`tbody tr:contains("Carol Web")`)
	if !strings.Contains(row.Text(), "web sign-in") || !strings.Contains(row.Text(), "Test platform: @u3") {
		t.Fatalf("carol's row on the members page: %q", row.Text())
	}
	if resp, _ := app.browser().getRaw(engine.CallbackPath("test") + "?code=x&state=y"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a callback nobody started: %d", resp.StatusCode)
	}

	// Disconnecting is proposed from the page and carried out by the tear-down hook.
	if _, page := carol.get("/c/" + slug + "/platforms/test"); page.Find(`form[action="/c/`+slug+`/propose/constitution.disconnect_platform"]`).Length() != 1 {
		t.Fatal("the page offers no way to propose disconnecting")
	}
	if resp, _ := carol.post("/c/"+slug+"/propose/constitution.disconnect_platform", url.Values{"platform": {"test"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("propose disconnecting: %d", resp.StatusCode)
	}
	if conn, _ = app.store.ConnectionOf(ctx, comm.ID, "test"); conn.Status != models.ConnectionDisconnecting {
		t.Fatalf("after the decision: %q", conn.Status)
	}
	if status := app.postEvent(testEvent{ID: "e2", Space: testSpace, User: "U2", Text: "while disconnecting"}, testSecret); status != http.StatusOK {
		t.Fatalf("event: %d", status)
	}
	app.deliver()
	if _, err := app.store.ConnectionOf(ctx, comm.ID, "test"); !errors.Is(err, models.ErrNotFound) || len(tp.Calls("tear_down")) != 1 {
		t.Fatalf("after tear-down: %v, %d tear-down calls", err, len(tp.Calls("tear_down")))
	}
	app.store.DB().Where("community_id = ? AND type = ?", comm.ID, "test.post_message").Find(&posts)
	if len(posts) != 1 {
		t.Fatalf("%d posts governed; none once disconnecting was decided", len(posts))
	}
}

// TestPlatformConnectedByCredentials: a platform without a consent page is connected with a
// credentials form on its page. Credentials the platform refuses are an error on the form,
// which keeps what was typed except the secret, and store and propose nothing; accepted
// ones are stored encrypted and proposed.
func TestPlatformConnectedByCredentials(t *testing.T) {
	app, _ := newTestPluginAppWith(t, true)
	ctx := context.Background()
	b := app.browser()
	b.signup("Ada Founder")
	slug := b.createCommunityWithKit("Form Club", engine.KitDemocracy)
	comm, _ := app.store.CommunityBySlug(ctx, slug)
	_, page := b.get("/c/" + slug + "/platforms/test")
	if page.Find(`form[action="/c/`+slug+`/platforms/test/connect"] input[name="secret"][type="password"]`).Length() != 1 ||
		page.Find(`label[for="f-space"]`).Text() != "Space id" {
		t.Fatalf("no credentials form:\n%s", page.Text())
	}
	if status, _ := b.get("/c/" + slug + "/platforms/test/connect"); status != http.StatusNotFound {
		t.Fatalf("a form platform has no consent page to go to: %d", status)
	}
	if resp, _ := b.post("/c/"+slug+"/platforms/test/connect", url.Values{"space": {testSpace}, "secret": {"s3cret"}, "csrf_token": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("without the CSRF token: %d", resp.StatusCode)
	}
	resp, doc := b.post("/c/"+slug+"/platforms/test/connect", url.Values{"space": {testSpace}, "secret": {"guessed"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(doc.Find("#e-secret").Text(), "did not accept") {
		t.Fatalf("refused credentials: %d\n%s", resp.StatusCode, doc.Text())
	}
	if v, _ := doc.Find(`#f-space`).Attr("value"); v != testSpace {
		t.Fatalf("the typed space id is lost: %q", v)
	}
	if v, _ := doc.Find(`#f-secret`).Attr("value"); v != "" {
		t.Fatal("the secret was sent back in the page")
	}
	if n := app.count("platform_connections") + app.count("actions"); n != 0 {
		t.Fatalf("refused credentials stored or proposed something: %d rows", n)
	}
	resp, _ = b.post("/c/"+slug+"/platforms/test/connect", url.Values{"space": {testSpace}, "secret": {"s3cret"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/c/"+slug+"/platforms/test?done=proposed" {
		t.Fatalf("accepted credentials: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	conn, err := app.store.ConnectionOf(ctx, comm.ID, "test")
	if err != nil || conn.Status != models.ConnectionAwaiting || strings.Contains(string(conn.Credentials), "s3cret") {
		t.Fatalf("connection %+v %v (credentials must be encrypted)", conn, err)
	}
	var creds map[string]string
	if err := app.store.Credentials(conn, &creds); err != nil || creds["secret"] != "s3cret" {
		t.Fatalf("stored credentials %v %v", creds, err)
	}
	if _, page := b.get("/c/" + slug + "/platforms/test?done=proposed"); !strings.Contains(page.Text(), "Connecting it is now a proposal") {
		t.Fatalf("page after proposing:\n%s", page.Text())
	}
}
