package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"policykit/engine"
	"policykit/engine/enginetest"
	"policykit/handlers"
	"policykit/integrations/slack"
	"policykit/integrations/slack/slackfake"
	"policykit/models"
	"policykit/models/modelstest"
	"policykit/static"
	"policykit/templates"
)

var ctx = context.Background()

const (
	signingSecret = "test-signing-secret"
	clientID      = "1234.5678"
	clientSecret  = "test-client-secret"
)

// world is a community governed through a fake Slack workspace: the real router served over
// loopback, the real engine on a real database with a hand-driven clock, and the real
// slack-go client talking to slackfake.
//
//	#general, #announcements: admin (the founder's Slack account), alice, bob, carol, dave, erin, bot
//	#lounge:                  admin, alice, bot
type world struct {
	t        *testing.T
	fake     *slackfake.Server
	store    *models.Store
	clock    *enginetest.Clock
	eng      *engine.Engine
	slack    *slack.Slack
	inbox    *engine.Inbox
	srv      *httptest.Server
	users    map[string]slackfake.User // by name
	general  slackfake.Channel
	announce slackfake.Channel
	lounge   slackfake.Channel
	over     transport

	community *models.Community
	founder   *browser // signed in as the community's creator
	founderID int64    // the creator's member id
}

// transport is how Slack's events and clicks reach the server in a test world.
type transport string

const (
	eventsAPI  transport = "events-api"  // signed HTTP requests to the public endpoints
	socketMode transport = "socket-mode" // a websocket the server opens (no public URL)
)

// overBothTransports runs a scenario over the Events API and over Socket Mode: the same
// events and clicks must be governed the same way.
func overBothTransports(t *testing.T, kit string, scenario func(t *testing.T, w *world)) {
	for _, over := range []transport{eventsAPI, socketMode} {
		t.Run(string(over), func(t *testing.T) { scenario(t, newWorldOver(t, kit, over)) })
	}
}

func newWorld(t *testing.T, kit string) *world {
	t.Helper()
	return newWorldOver(t, kit, eventsAPI)
}

// newWorldOver builds a world whose Slack app receives events over a transport. Over Socket
// Mode the app is configured as a host without a public URL would: client id and secret
// and the app-level token, no signing secret (the HTTP endpoints are not even mounted).
func newWorldOver(t *testing.T, kit string, over transport) *world {
	t.Helper()
	gin.SetMode(gin.TestMode)
	w := &world{t: t, fake: slackfake.New(), store: modelstest.Open(t), clock: enginetest.NewClock(), users: map[string]slackfake.User{}, over: over}
	t.Cleanup(w.fake.Close)
	everyone := []string{w.fake.AdminUserID()}
	for _, n := range []string{"alice", "bob", "carol", "dave", "erin"} {
		u := w.fake.AddUser(slackfake.User{Name: n, RealName: strings.ToUpper(n[:1]) + n[1:]})
		w.users[n] = u
		everyone = append(everyone, u.ID)
	}
	everyone = append(everyone, w.fake.BotUserID())
	w.general = w.fake.AddChannel(slackfake.Channel{Name: "general", IsGeneral: true, Members: everyone, Topic: "Company-wide"})
	w.announce = w.fake.AddChannel(slackfake.Channel{Name: "announcements", Members: everyone})
	w.lounge = w.fake.AddChannel(slackfake.Channel{Name: "lounge", Members: []string{w.fake.AdminUserID(), w.users["alice"].ID, w.fake.BotUserID()}})

	mux := http.NewServeMux()
	w.srv = httptest.NewServer(mux)
	t.Cleanup(w.srv.Close)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var err error
	w.eng, err = engine.New(w.store, engine.Options{Clock: w.clock.Now, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	w.inbox = engine.NewInbox(w.eng, engine.InboxOptions{Workers: 2})
	cfg := slack.Config{ClientID: clientID, ClientSecret: clientSecret, SigningSecret: signingSecret, APIURL: w.fake.APIURL()}
	if over == socketMode {
		cfg.SigningSecret, cfg.AppToken = "", w.fake.AppToken()
	}
	w.slack = slack.New(w.host(w.inbox), cfg)
	if err := w.eng.Register(w.slack); err != nil {
		t.Fatal(err)
	}
	h, err := handlers.New(handlers.Config{BaseURL: w.srv.URL, Version: "test"}, handlers.Deps{Engine: w.eng, Store: w.store,
		Log: quiet, Templates: templates.FS, Static: static.FS, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	h.UsePlatform(w.slack)
	w.inbox.Start(ctx)
	t.Cleanup(func() {
		if err := w.inbox.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	mux.Handle("/", h.Router())
	if over == socketMode {
		w.runLinks()
	}

	w.founder = w.browser()
	w.founder.signup("Ada Founder")
	acct, err := w.store.AccountByEmail(ctx, "ada.founder@example.org")
	if err != nil {
		t.Fatal(err)
	}
	c, m, err := w.eng.CreateCommunity(ctx, models.NewCommunity{Name: "Analytical Engine Club"}, acct, kit)
	if err != nil {
		t.Fatal(err)
	}
	w.community, w.founderID = c, m.ID
	return w
}

// install connects the workspace through the platform page, as the founder who is the
// workspace's admin, and checks the connection.
func (w *world) install() {
	w.t.Helper()
	status := w.founder.oauth("/c/"+w.community.Slug+"/platforms/slack/connect", w.fake.AdminUserID(), "chat:write,channels:write,groups:write,pins:write")
	if status != http.StatusSeeOther {
		w.t.Fatalf("install callback: status %d", status)
	}
	conn, err := w.store.ConnectionOf(ctx, w.community.ID, "slack")
	if err != nil {
		w.t.Fatalf("no connection after install: %v", err)
	}
	if conn.Status == models.ConnectionApproved {
		w.deliver() // the kit's constitution approved the connection at once: set it up
		if conn, _ := w.store.ConnectionOf(ctx, w.community.ID, "slack"); conn.Status != models.ConnectionConnected {
			w.t.Fatalf("after set-up the connection is %q", conn.Status)
		}
		return
	}
	// Connecting is a proposal: the founder (the only member before the workspace's people
	// arrive) approves it, and the connection is set up.
	_, p := w.lastAction(engine.TypeConnect)
	if p == nil {
		w.t.Fatalf("installing proposed nothing; connection %q", conn.Status)
	}
	if _, err := w.eng.CastVote(ctx, w.community.ID, p.ID, w.founderID, "yes", "web"); err != nil {
		w.t.Fatal(err)
	}
	w.deliver()
	if conn, _ := w.store.ConnectionOf(ctx, w.community.ID, "slack"); conn.Status != models.ConnectionConnected {
		w.t.Fatalf("after the founder's approval the connection is %q", conn.Status)
	}
}

// host is what the Slack plug-in is built on in these tests: the world's engine, the given
// inbox and the test server's URL.
func (w *world) host(inbox *engine.Inbox) engine.Host {
	return engine.Host{Engine: w.eng, Inbox: inbox, BaseURL: w.srv.URL, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// member is the member linked to a Slack user.
func (w *world) member(slackUser string) int64 {
	w.t.Helper()
	m, err := w.store.MemberByIdentity(ctx, w.community.ID, "slack", slackUser)
	if err != nil {
		w.t.Fatalf("member of %s: %v", slackUser, err)
	}
	return m.ID
}

// slackUser is the Slack account of a member.
func (w *world) slackUser(memberID int64) string {
	w.t.Helper()
	ids, err := w.store.IdentitiesByMember(ctx, w.community.ID, "slack", []int64{memberID})
	if err != nil || ids[memberID].ExternalID == "" {
		w.t.Fatalf("slack account of member %d: %v", memberID, err)
	}
	return ids[memberID].ExternalID
}

// runLinks runs the app's long-lived links (its Socket Mode connection) as the runtime would
// in a server process, until the test ends, and waits for the connection.
func (w *world) runLinks() {
	w.t.Helper()
	links, err := w.slack.Links(ctx)
	if err != nil || len(links) != 1 {
		w.t.Fatalf("socket mode links: %v %v", links, err)
	}
	linkCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- links[0].Run(linkCtx) }()
	w.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			w.t.Errorf("socket mode link: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for w.fake.SocketConnections() == 0 {
		if time.Now().After(deadline) {
			w.t.Fatal("the app did not open a Socket Mode connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// send delivers an event over the world's transport and waits until it has been processed.
func (w *world) send(ev slackfake.Event, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("user action: %v", err)
	}
	w.deliverEvent(ev)
	w.flush()
}

// deliverEvent hands an event to the server over the world's transport: a signed request
// answered 200, or a Socket Mode envelope the app acknowledged.
func (w *world) deliverEvent(ev slackfake.Event) {
	w.t.Helper()
	if w.over == socketMode {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, err := w.fake.SendSocketEvent(c, ev); err != nil {
			w.t.Fatal(err)
		}
		return
	}
	resp, err := w.fake.SendEvent(ctx, w.srv.URL+slack.EventsPath, signingSecret, ev)
	w.expect(resp, err, http.StatusOK)
}

// sendEchoes delivers every event our own calls caused, as Slack would.
func (w *world) sendEchoes() {
	w.t.Helper()
	for _, ev := range w.fake.Echoes() {
		w.deliverEvent(ev)
	}
	w.flush()
}

// postEvent is a member's post in #general as Slack delivers it: the event and its envelope.
func (w *world) postEvent(user, text string) (slackfake.Event, slackfake.Envelope) {
	w.t.Helper()
	ev, err := w.fake.UserPosts(w.users[user].ID, w.general.ID, text)
	if err != nil {
		w.t.Fatal(err)
	}
	env, err := w.fake.NewEnvelope(ev)
	if err != nil {
		w.t.Fatal(err)
	}
	return ev, env
}

// click presses a button of a stored message as a Slack user and waits for the vote.
func (w *world) click(user, channel, ts, actionID string) {
	w.t.Helper()
	p, err := w.fake.ClickButton(user, channel, ts, actionID, "")
	if err != nil {
		w.t.Fatalf("click %s: %v", actionID, err)
	}
	if w.over == socketMode {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := w.fake.SendSocketInteraction(c, p); err != nil {
			w.t.Fatal(err)
		}
	} else {
		resp, err := w.fake.SendInteraction(ctx, w.srv.URL+slack.InteractionsPath, signingSecret, p)
		w.expect(resp, err, http.StatusOK)
	}
	w.flush()
}

func (w *world) expect(resp *http.Response, err error, status int) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status {
		w.t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, status)
	}
}

func (w *world) flush() {
	w.t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := w.inbox.Flush(c); err != nil {
		w.t.Fatal(err)
	}
}

// deliver runs the outbox until nothing is due now.
func (w *world) deliver() engine.DeliveryStats {
	w.t.Helper()
	stats, err := w.eng.DeliverDue(ctx, "test")
	if err != nil {
		w.t.Fatal(err)
	}
	return stats
}

// lastAction is the newest action of a type, with its proposal (nil if none).
func (w *world) lastAction(typ string) (*models.Action, *models.Proposal) {
	w.t.Helper()
	var a models.Action
	if err := w.store.DB().Where("community_id = ? AND type = ?", w.community.ID, typ).Order("id DESC").First(&a).Error; err != nil {
		w.t.Fatalf("no %s action: %v", typ, err)
	}
	ps, err := w.store.ProposalsOfAction(ctx, a.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(ps) == 0 {
		return &a, nil
	}
	return &a, &ps[len(ps)-1]
}

func (w *world) proposal(id int64) *models.Proposal {
	w.t.Helper()
	p, err := w.store.ProposalByID(ctx, w.community.ID, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// count counts a table's rows; for actions, it leaves out the proposal to connect the
// workspace that installing it makes.
func (w *world) count(table string) int64 {
	w.t.Helper()
	var n int64
	q := w.store.DB().Table(table)
	if table == "actions" {
		q = q.Where("type <> ?", engine.TypeConnect)
	}
	if err := q.Count(&n).Error; err != nil {
		w.t.Fatal(err)
	}
	return n
}

// addPolicy installs a policy through the constitution, as the founder.
func (w *world) addPolicy(params map[string]any) {
	w.t.Helper()
	res, err := w.eng.Submit(ctx, engine.Submission{CommunityID: w.community.ID, Type: engine.TypeAddPolicy, InitiatorID: w.founderID,
		Origin: models.OriginWeb, Params: params})
	if err != nil || res.Action.Status != models.StatusExecuted {
		w.t.Fatalf("add policy %v: %v %+v", params["name"], err, res)
	}
}

func (w *world) channelName(id string) string {
	w.t.Helper()
	c, ok := w.fake.Channel(id)
	if !ok {
		w.t.Fatalf("no channel %s", id)
	}
	return c.Name
}

// blocksText flattens a message's Block Kit JSON for assertions.
func blocksText(m slackfake.Message) string {
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(m.Blocks))
}

// ballotMessage finds a ballot message by its reference.
func (w *world) ballotMessage(ref string) slackfake.Message {
	w.t.Helper()
	ch, ts, ok := strings.Cut(ref, ":")
	if !ok {
		w.t.Fatalf("bad ballot ref %q", ref)
	}
	m, ok := w.fake.Message(ch, ts)
	if !ok {
		w.t.Fatalf("ballot message %s is gone", ref)
	}
	return m
}

func ids(v any) []int64 {
	switch l := v.(type) {
	case []any:
		out := make([]int64, 0, len(l))
		for _, x := range l {
			if f, ok := x.(float64); ok {
				out = append(out, int64(f))
			}
		}
		return out
	case []int:
		out := make([]int64, len(l))
		for i, x := range l {
			out[i] = int64(x)
		}
		return out
	}
	return nil
}

// browser is one visitor of the site with its own cookies; it does not follow redirects.
type browser struct {
	w      *world
	client *http.Client
	csrf   string
}

func (w *world) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{w: w, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// get fetches a path and returns status, body and the redirect target.
func (b *browser) get(path string) (int, string, string) {
	b.w.t.Helper()
	resp, err := b.client.Get(b.w.srv.URL + path)
	if err != nil {
		b.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if i := strings.Index(string(body), `name="csrf_token" value="`); i >= 0 {
		rest := string(body)[i+len(`name="csrf_token" value="`):]
		b.csrf = rest[:strings.Index(rest, `"`)]
	}
	return resp.StatusCode, string(body), resp.Header.Get("Location")
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.w.t.Helper()
	if b.csrf == "" {
		b.get("/signin")
	}
	if form == nil {
		form = url.Values{}
	}
	if _, set := form["csrf_token"]; !set {
		form.Set("csrf_token", b.csrf)
	}
	resp, err := b.client.PostForm(b.w.srv.URL+path, form)
	if err != nil {
		b.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) signup(name string) {
	b.w.t.Helper()
	email := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.org"
	if status, body := b.post("/signup", url.Values{"name": {name}, "email": {email}, "password": {"correct horse battery"}}); status != http.StatusSeeOther {
		b.w.t.Fatalf("sign up %s: %d %s", name, status, body)
	}
}

// oauth goes through a Slack consent round trip started at path: it follows the redirect
// to Slack's authorize page, has the fake issue a code for slackUser, and comes back to the
// callback with it. It returns the callback's status.
func (b *browser) oauth(path, slackUser, userScope string) int {
	b.w.t.Helper()
	status, _, loc := b.get(path)
	if status != http.StatusSeeOther {
		b.w.t.Fatalf("%s: status %d, want a redirect to Slack", path, status)
	}
	u, err := url.Parse(loc)
	if err != nil || !strings.HasSuffix(u.Path, "/oauth/v2/authorize") || u.Query().Get("client_id") != clientID {
		b.w.t.Fatalf("%s redirected to %q, not Slack's consent page", path, loc)
	}
	code := fmt.Sprintf("code-%d", time.Now().UnixNano())
	b.w.fake.RegisterOAuthCode(slackfake.OAuthGrant{Code: code, ClientID: clientID, ClientSecret: clientSecret,
		RedirectURI: u.Query().Get("redirect_uri"), UserID: slackUser, Scope: u.Query().Get("scope"), UserScope: userScope})
	status, _, _ = b.get(slack.CallbackPath + "?" + url.Values{"code": {code}, "state": {u.Query().Get("state")}}.Encode())
	return status
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
