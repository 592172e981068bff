package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"policykit/integrations/slack/slackfake"
	"policykit/models"
	"policykit/models/modelstest"
)

// TestMain lets a test start this very program as a separate server process (PK_SERVE=1),
// so it can be killed with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("PK_SERVE") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, nil, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "policykit:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// server is a policykit serve process started by a test.
type server struct {
	cmd  *exec.Cmd
	base string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `policykit serve` with env in its own process and waits until it answers.
func startServer(t *testing.T, env map[string]string) *server {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PK_SERVE=1", "POLICYKIT_ADDR="+addr, "POLICYKIT_BASE_URL=http://"+addr)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, base: "http://" + addr}
	t.Cleanup(func() { s.kill() })
	deadline := time.Now().Add(60 * time.Second) // a first start migrates, behind other processes on a shared PostgreSQL
	for {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL, as kill -9 does: nothing is handed back.
func (s *server) kill() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// visitor is a browser: cookies, the CSRF token of the last page, no redirects followed.
type visitor struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newVisitor(t *testing.T, base string) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (v *visitor) do(method, target string, form url.Values) (int, string) {
	v.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = v.base + target
	}
	var body io.Reader
	if form != nil {
		form.Set("csrf_token", v.csrf)
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := v.c.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if i := strings.Index(string(page), `name="csrf_token" value="`); i >= 0 {
		rest := string(page)[i+len(`name="csrf_token" value="`):]
		v.csrf = rest[:strings.Index(rest, `"`)]
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		return resp.StatusCode, loc
	}
	return resp.StatusCode, string(page)
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestSocketModeHostSurvivesKill9 is a self-hoster with no public URL: only the Slack app's
// client id and secret and its app-level token (SLACK_APP_TOKEN) are set. They connect a
// workspace, and a member's rename is governed over Socket Mode (reverted while it waits for
// a yes). The rename is approved, and the server is killed with SIGKILL while it is carrying
// it out (Slack hangs on the call); a restarted server carries it out within 5 seconds.
func TestSocketModeHostSurvivesKill9(t *testing.T) {
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	fake.SetSocketPingInterval(500 * time.Millisecond)
	alice := fake.AddUser(slackfake.User{Name: "alice", RealName: "Alice"})
	general := fake.AddChannel(slackfake.Channel{Name: "general", IsGeneral: true, Members: []string{fake.AdminUserID(), alice.ID, fake.BotUserID()}})
	dsn := modelstest.DSN(t)
	env := map[string]string{
		"DATABASE_URL": dsn, "POLICYKIT_DATA_DIR": t.TempDir(), "POLICYKIT_SECRET_KEY": strings.Repeat("k", 32), "POLICYKIT_LOG_LEVEL": "warn",
		"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "secret", "SLACK_APP_TOKEN": fake.AppToken(), "SLACK_API_URL": fake.APIURL(),
	}
	first := startServer(t, env)
	store, err := models.Open(context.Background(), dsn, []byte(env["POLICYKIT_SECRET_KEY"]))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()

	ada := newVisitor(t, first.base)
	ada.do("GET", "/signup", nil)
	if status, _ := ada.do("POST", "/signup", url.Values{"name": {"Ada"}, "email": {"ada@example.org"}, "password": {"correct horse battery"}}); status != http.StatusSeeOther {
		t.Fatalf("sign up: %d", status)
	}
	ada.do("GET", "/communities/new", nil)
	status, loc := ada.do("POST", "/communities", url.Values{"name": {"Laptop Club"}, "starter_kit": {"everything_passes"}})
	if status != http.StatusSeeOther {
		t.Fatalf("create community: %d %s", status, loc)
	}
	slug := strings.TrimPrefix(loc, "/c/")
	comm, err := store.CommunityBySlug(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	if _, page := ada.do("GET", "/c/"+slug+"/platforms/slack", nil); !strings.Contains(page, "Add to Slack") {
		t.Fatalf("the Slack page offers no install:\n%s", page)
	}
	// Renames wait for one yes (a policy proposed on the website, passed by the kit).
	ada.do("GET", "/c/"+slug+"/propose/constitution.add_policy", nil)
	if status, page := ada.do("POST", "/c/"+slug+"/propose/constitution.add_policy", url.Values{"kind": {"platform"}, "name": {"Renames need a yes"},
		"action_types": {"slack.rename_channel"}, "priority": {"1"}, "mode": {"enforce"}, "notify": {`start_vote("yes_no")`},
		"check": {`yes() >= 1 ? PASSED : PENDING`}}); status != http.StatusSeeOther {
		t.Fatalf("add policy: %d\n%s", status, page)
	}

	// Add to Slack: the consent round trip goes through the browser, so no public URL is needed.
	status, consent := ada.do("GET", "/c/"+slug+"/platforms/slack/connect", nil)
	u, _ := url.Parse(consent)
	if status != http.StatusSeeOther || !strings.HasSuffix(u.Path, "/oauth/v2/authorize") {
		t.Fatalf("connect: %d → %s", status, consent)
	}
	fake.RegisterOAuthCode(slackfake.OAuthGrant{Code: "install-code", ClientID: "1.2", ClientSecret: "secret", RedirectURI: u.Query().Get("redirect_uri"),
		Scope: u.Query().Get("scope"), UserScope: "chat:write,channels:write,groups:write,pins:write"})
	if status, loc := ada.do("GET", u.Query().Get("redirect_uri")+"?code=install-code&state="+u.Query().Get("state"), nil); status != http.StatusSeeOther || !strings.Contains(loc, "done=approved") {
		t.Fatalf("install callback: %d → %s", status, loc)
	}
	eventually(t, 10*time.Second, "the workspace is set up", func() bool {
		conn, err := store.ConnectionOf(ctx, comm.ID, "slack")
		return err == nil && conn.Status == models.ConnectionConnected
	})
	eventually(t, 10*time.Second, "the Socket Mode connection is open", func() bool { return fake.SocketConnections() == 1 })

	// Alice renames #general: governed over Socket Mode, so renamed back while it waits.
	ev, err := fake.UserRenames(alice.ID, general.ID, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	sendCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := fake.SendSocketEvent(sendCtx, ev); err != nil {
		t.Fatal(err)
	}
	channelName := func() string { c, _ := fake.Channel(general.ID); return c.Name }
	eventually(t, 10*time.Second, "the pending rename is reverted", func() bool { return channelName() == "general" })

	// Approved while Slack hangs on the rename: the server is killed mid-call.
	var a models.Action
	if err := store.DB().Where("community_id = ? AND type = ?", comm.ID, "slack.rename_channel").First(&a).Error; err != nil {
		t.Fatal(err)
	}
	ps, err := store.ProposalsOfAction(ctx, a.ID)
	if err != nil || len(ps) != 1 {
		t.Fatalf("proposals of the rename: %v %v", ps, err)
	}
	fake.Stall("conversations.rename", 1)
	ada.do("GET", fmt.Sprintf("/c/%s/proposals/%d", slug, ps[0].ID), nil)
	if status, _ := ada.do("POST", fmt.Sprintf("/c/%s/proposals/%d/votes", slug, ps[0].ID), url.Values{"value": {"yes"}}); status != http.StatusSeeOther {
		t.Fatalf("vote: %d", status)
	}
	eventually(t, 10*time.Second, "the server calls Slack to rename again", func() bool { return fake.Stalled("conversations.rename") == 1 })
	first.kill()
	killed := time.Now()
	fake.ReleaseStalls()
	if channelName() != "general" {
		t.Fatalf("the stalled call was applied: %q", channelName())
	}

	restarted := time.Now()
	startServer(t, env)
	up := time.Now()
	eventually(t, 10*time.Second, "the restarted server carries the rename out", func() bool { return channelName() == "lobby" })
	took := time.Since(restarted)
	t.Logf("%s: decided rename carried out %s after the restart (up after %s; %s after SIGKILL)", modelstest.Name(),
		took.Round(10*time.Millisecond), up.Sub(restarted).Round(10*time.Millisecond), time.Since(killed).Round(10*time.Millisecond))
	if took > 5*time.Second {
		t.Fatalf("carried out %s after the restart, want within 5s", took)
	}
	var names []string
	for _, c := range fake.Calls("conversations.rename") { // the call that hung is not among them
		names = append(names, c.Form.Get("name"))
	}
	if strings.Join(names, ",") != "general,lobby" || fake.Stalled("conversations.rename") != 1 {
		t.Fatalf("conversations.rename applied %v (and %d hung), want renamed back, then carried out once", names, fake.Stalled("conversations.rename"))
	}
}
