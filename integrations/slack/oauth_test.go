package slack_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"policykit/engine"
	"policykit/integrations/slack"
	"policykit/integrations/slack/slackfake"
	"policykit/models"
)

const userScopes = "chat:write,channels:write,groups:write,pins:write"

// TestInstallChecks: only a workspace admin can connect Slack, and only through a consent
// round trip this browser started.
func TestInstallChecks(t *testing.T) {
	w := newWorld(t, engine.KitEverythingPasses)
	slug := w.community.Slug
	tests := []struct {
		name string
		run  func() int
		want int
	}{
		{"not a workspace admin", func() int {
			return w.founder.oauth("/c/"+slug+"/platforms/slack/connect", w.users["alice"].ID, userScopes)
		}, http.StatusForbidden},
		{"no user token granted", func() int {
			return w.founder.oauth("/c/"+slug+"/platforms/slack/connect", w.fake.AdminUserID(), "")
		}, http.StatusUnprocessableEntity},
		{"forged state", func() int {
			w.founder.get("/c/" + slug + "/platforms/slack/connect")
			w.fake.RegisterOAuthCode(slackFakeGrant("forged-state", w.fake.AdminUserID()))
			status, _, _ := w.founder.get(slack.CallbackPath + "?code=forged-state&state=guessed")
			return status
		}, http.StatusBadRequest},
		{"callback this browser did not start", func() int {
			w.fake.RegisterOAuthCode(slackFakeGrant("other-browser", w.fake.AdminUserID()))
			status, _, _ := w.browser().get(slack.CallbackPath + "?code=other-browser&state=x")
			return status
		}, http.StatusBadRequest},
		{"consent refused", func() int {
			_, _, loc := w.founder.get("/c/" + slug + "/platforms/slack/connect")
			u, _ := url.Parse(loc)
			status, _, _ := w.founder.get(slack.CallbackPath + "?error=access_denied&state=" + u.Query().Get("state"))
			return status
		}, http.StatusUnprocessableEntity},
		{"sign in before any community connected the workspace", func() int {
			return w.browser().oauth("/integrations/slack/signin", w.users["bob"].ID, "identity.basic")
		}, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.run(); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
			if n := w.count("platform_connections"); n != 0 {
				t.Fatalf("%d connections stored", n)
			}
		})
	}
}

func slackFakeGrant(code, user string) slackfake.OAuthGrant {
	return slackfake.OAuthGrant{Code: code, ClientID: clientID, ClientSecret: clientSecret, UserID: user, UserScope: userScopes}
}

func teamJoin(user, name string) slackfake.Event {
	return slackfake.Event{"type": "team_join", "event_ts": "1.9",
		"user": map[string]any{"id": user, "name": name, "real_name": strings.ToUpper(name[:1]) + name[1:], "deleted": false, "is_bot": false}}
}

// TestConnectSignInAndLink: installing stores both tokens encrypted, links the installer and
// adds the workspace's people as members; Slack users sign in to their member; a web member
// links their Slack account; disconnecting is proposed and decided by the constitution.
func TestConnectSignInAndLink(t *testing.T) {
	w := newWorld(t, engine.KitEverythingPasses)
	w.install()
	slug := w.community.Slug

	conn, err := w.store.ConnectionOf(ctx, w.community.ID, "slack")
	if err != nil {
		t.Fatal(err)
	}
	if conn.ExternalID != w.fake.TeamID() || conn.BotUserID != w.fake.BotUserID() || conn.Status != "connected" {
		t.Fatalf("connection %+v", conn)
	}
	if bytes.Contains(conn.Credentials, []byte(w.fake.BotToken())) || bytes.Contains(conn.Credentials, []byte(w.fake.AdminToken())) {
		t.Fatal("tokens are stored in clear text")
	}
	if got := w.member(w.fake.AdminUserID()); got != w.founderID {
		t.Fatalf("the installer's Slack account is linked to member %d, want the founder %d", got, w.founderID)
	}
	if n, _ := w.store.CountIdentities(ctx, w.community.ID, "slack"); n != 6 {
		t.Fatalf("%d linked members, want the founder and five people (not the bot)", n)
	}
	status, page, _ := w.founder.get("/c/" + slug + "/platforms/slack")
	if status != http.StatusOK || !strings.Contains(page, w.fake.TeamID()) || !strings.Contains(page, "You are linked as <strong>@admin</strong>") {
		t.Fatalf("platform page %d:\n%s", status, page)
	}

	// A person who joins the workspace later becomes a member on team_join.
	frank := w.fake.AddUser(slackfake.User{Name: "frank"})
	w.send(teamJoin(frank.ID, "frank"), nil)
	w.member(frank.ID)

	// Sign in with Slack: bob has no web login yet; he gets one, tied to his member.
	bob := w.browser()
	if _, page, _ := bob.get("/signin"); !strings.Contains(page, `href="/integrations/slack/signin"`) {
		t.Fatal("the sign-in page does not offer Sign in with Slack")
	}
	if status := bob.oauth("/integrations/slack/signin", w.users["bob"].ID, "identity.basic"); status != http.StatusSeeOther {
		t.Fatalf("sign in with Slack: %d", status)
	}
	if status, _, _ := bob.get("/c/" + slug); status != http.StatusOK {
		t.Fatalf("bob cannot see his community after signing in: %d", status)
	}
	bobMember, err := w.store.MemberByID(ctx, w.community.ID, w.member(w.users["bob"].ID))
	if err != nil || bobMember.AccountID == nil {
		t.Fatalf("bob's member has no login: %+v %v", bobMember, err)
	}
	again := w.browser()
	again.oauth("/integrations/slack/signin", w.users["bob"].ID, "identity.basic")
	if m, _ := w.store.MemberByID(ctx, w.community.ID, bobMember.ID); *m.AccountID != *bobMember.AccountID {
		t.Fatal("signing in again made another login")
	}
	if _, err := w.store.Authenticate(ctx, fmt.Sprintf("%s.%s@slack.invalid", strings.ToLower(w.users["bob"].ID), strings.ToLower(w.fake.TeamID())), ""); err == nil {
		t.Fatal("a Slack login can be used with an empty password")
	}

	// Link: Carol has a web account and joined by invitation; she links her Slack account,
	// and the member the sync made for her Slack account is merged away.
	carol := w.browser()
	carol.signup("Carol Web")
	acct, _ := w.store.AccountByEmail(ctx, "carol.web@example.org")
	inv, err := w.store.CreateInvite(ctx, w.community.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, carolMember, err := w.store.AcceptInvite(ctx, inv.Code, acct)
	if err != nil {
		t.Fatal(err)
	}
	synced := w.member(w.users["carol"].ID)
	if status := carol.oauth("/c/"+slug+"/platforms/slack/link", w.users["carol"].ID, "identity.basic"); status != http.StatusSeeOther {
		t.Fatalf("link: %d", status)
	}
	if got := w.member(w.users["carol"].ID); got != carolMember.ID {
		t.Fatalf("carol's Slack account is linked to member %d, want her web member %d", got, carolMember.ID)
	}
	if m, _ := w.store.MemberByID(ctx, w.community.ID, synced); m.LeftAt == nil {
		t.Fatal("the synced duplicate of carol is still a member")
	}
	if _, page, _ := carol.get("/c/" + slug + "/platforms/slack"); !strings.Contains(page, "You are linked as <strong>@carol</strong>") {
		t.Fatalf("carol's page:\n%s", page)
	}
	// bob's Slack account belongs to bob's member, who has a login: carol cannot take it.
	if status := carol.oauth("/c/"+slug+"/platforms/slack/link", w.users["bob"].ID, "identity.basic"); status != http.StatusConflict {
		t.Fatalf("linking someone else's Slack account: %d", status)
	}

	// Disconnecting is a constitution action, decided like any other: here, two yes votes.
	w.addPolicy(map[string]any{"kind": "constitution", "name": "Two to disconnect", "priority": 1,
		"action_types": []any{engine.TypeDisconnect}, "notify": `start_vote("yes_no")`, "check": `yes() >= 2 ? PASSED : PENDING`})
	disconnect := "/c/" + slug + "/propose/" + engine.TypeDisconnect
	if status, _ := bob.post(disconnect, url.Values{"platform": {"slack"}, "csrf_token": {"wrong"}}); status != http.StatusForbidden {
		t.Fatalf("proposing without the CSRF token: %d", status)
	}
	if status, page := bob.post(disconnect, url.Values{"platform": {"discord"}}); status != http.StatusUnprocessableEntity || !strings.Contains(page, "not connected") {
		t.Fatalf("disconnecting a platform that is not connected: %d", status)
	}
	if _, page, _ := bob.get("/c/" + slug + "/platforms/slack"); !strings.Contains(page, `action="`+disconnect+`"`) {
		t.Fatal("the Slack page offers no way to propose disconnecting")
	}
	if status, _ := bob.post(disconnect, url.Values{"platform": {"slack"}}); status != http.StatusSeeOther {
		t.Fatalf("bob could not propose disconnecting: %d", status)
	}
	_, p := w.lastAction(engine.TypeDisconnect)
	if p == nil || p.Status != models.StatusPending || w.count("platform_connections") != 1 {
		t.Fatalf("a proposal to disconnect must wait for its votes: %+v", p)
	}
	for _, voter := range []int64{w.founderID, w.member(w.users["bob"].ID)} {
		if _, err := w.eng.CastVote(ctx, w.community.ID, p.ID, voter, "yes", "web"); err != nil {
			t.Fatal(err)
		}
	}
	if p := w.proposal(p.ID); p.Status != models.StatusPassed {
		t.Fatalf("after two yes: %s", p.Status)
	}
	if conn, err := w.store.ConnectionOf(ctx, w.community.ID, "slack"); err != nil || conn.Status != models.ConnectionDisconnecting {
		t.Fatalf("once decided, the workspace is being disconnected: %+v %v", conn, err)
	}
	w.deliver() // the tear_down_connection effect: the app gives its tokens up, the connection goes
	if n := w.count("platform_connections"); n != 0 {
		t.Fatal("still connected")
	}
	if _, _, err := slackapi.New(w.fake.BotToken(), slackapi.OptionAPIURL(w.fake.APIURL())).PostMessage(w.general.ID, slackapi.MsgOptionText("x", false)); slackCodeOf(err) != "token_revoked" {
		t.Fatalf("the bot token still works after disconnecting: %v", err)
	}
	if n, _ := w.store.CountIdentities(ctx, w.community.ID, "slack"); n != 7 {
		t.Fatalf("disconnecting dropped member links: %d left", n)
	}
}

// TestTenantIsolation: a Slack workspace connected to community A cannot act in community
// B: its events govern only A, its buttons cannot vote on B's proposals, it cannot be
// connected to B as well, and A's Slack page is not found for B's members.
func TestTenantIsolation(t *testing.T) {
	w := newWorld(t, engine.KitEverythingPasses)
	w.install()
	ownerB := w.browser()
	ownerB.signup("Babbage Owner")
	acctB, _ := w.store.AccountByEmail(ctx, "babbage.owner@example.org")
	b, memberB, err := w.eng.CreateCommunity(ctx, models.NewCommunity{Name: "Difference Engine Club"}, acctB, engine.KitDemocracy)
	if err != nil {
		t.Fatal(err)
	}
	resB, err := w.eng.Submit(ctx, engine.Submission{CommunityID: b.ID, Type: engine.TypeAddDocument, InitiatorID: memberB.ID,
		Origin: models.OriginWeb, Params: map[string]any{"title": "Rules", "body": "Be kind."}})
	if err != nil || resB.Proposal == nil || resB.Proposal.Status != models.StatusPending {
		t.Fatalf("B's proposal: %v %+v", err, resB)
	}

	// A button in A's workspace naming B's proposal.
	bot := slackapi.New(w.fake.BotToken(), slackapi.OptionAPIURL(w.fake.APIURL()))
	_, ts, err := bot.PostMessageContext(context.Background(), w.general.ID, slackapi.MsgOptionBlocks(slackapi.NewActionBlock("pk",
		slackapi.NewButtonBlockElement("pk_vote_yes", fmt.Sprintf("%d:yes", resB.Proposal.ID), slackapi.NewTextBlockObject("plain_text", "Yes", false, false)))))
	if err != nil {
		t.Fatal(err)
	}
	w.click(w.users["alice"].ID, w.general.ID, ts, "pk_vote_yes")
	if vs, _ := w.store.VotesOf(ctx, []int64{resB.Proposal.ID}); len(vs[resB.Proposal.ID]) != 0 {
		t.Fatal("a click in A's workspace voted on B's proposal")
	}
	if !w.ephemeralTo(w.users["alice"].ID, "not open in this workspace") {
		t.Fatalf("alice was not told: %+v", w.fake.Ephemerals())
	}

	// Events govern A only.
	w.send(w.fake.UserRenames(w.users["alice"].ID, w.lounge.ID, "a-only"))
	var inB int64
	w.store.DB().Table("actions").Where("community_id = ? AND platform = ?", b.ID, "slack").Count(&inB)
	if inB != 0 {
		t.Fatalf("%d Slack actions in B", inB)
	}
	// An event naming a workspace nobody connected is dropped.
	env := fmt.Sprintf(`{"type":"event_callback","team_id":"T0THER","event_id":"EvOther1","event":%s}`,
		mustJSON(t, map[string]any{"type": "message", "channel": w.general.ID, "user": w.users["bob"].ID, "text": "hi", "ts": "1.5"}))
	resp, err := w.fake.SendSigned(ctx, w.srv.URL+slack.EventsPath, signingSecret, time.Now(), "application/json", []byte(env), nil)
	w.expect(resp, err, http.StatusOK)
	w.flush()
	if n := w.count("actions"); n != 2 { // B's document, A's rename, and nothing else
		t.Fatalf("%d actions", n)
	}

	// B's owner, even as the workspace's admin, cannot connect A's workspace to B.
	if status := ownerB.oauth("/c/"+b.Slug+"/platforms/slack/connect", w.fake.AdminUserID(), userScopes); status != http.StatusConflict {
		t.Fatalf("connecting A's workspace to B: %d", status)
	}
	if _, err := w.store.ConnectionOf(ctx, b.ID, "slack"); err == nil {
		t.Fatal("B got A's workspace")
	}
	if status, _, _ := ownerB.get("/c/" + w.community.Slug + "/platforms/slack"); status != http.StatusNotFound {
		t.Fatalf("B's owner sees A's Slack page: %d", status)
	}
	if status, _ := ownerB.post("/c/"+w.community.Slug+"/propose/"+engine.TypeDisconnect, url.Values{"platform": {"slack"}}); status != http.StatusNotFound {
		t.Fatalf("B's owner proposed disconnecting A's Slack: %d", status)
	}
	if n := w.count("platform_connections"); n != 1 {
		t.Fatalf("%d connections", n)
	}
}

// TestRevokedTokens: when Slack stops accepting the workspace's tokens, deliveries fail for
// good (retrying cannot help) and the connection's page says why.
func TestRevokedTokens(t *testing.T) {
	w := newWorld(t, engine.KitJury)
	w.install()
	w.fake.RevokeToken(w.fake.BotToken())
	w.send(w.fake.UserRenames(w.users["alice"].ID, w.general.ID, "unheard"))
	if st := w.deliver(); st.Failed == 0 {
		t.Fatalf("deliveries with a revoked token: %+v", st)
	}
	conn, err := w.store.ConnectionOf(ctx, w.community.ID, "slack")
	if err != nil || conn.Status != "disconnected: token_revoked" {
		t.Fatalf("connection %+v %v", conn, err)
	}
	if _, page, _ := w.founder.get("/c/" + w.community.Slug + "/platforms/slack"); !strings.Contains(page, "disconnected: token_revoked") {
		t.Fatal("the page does not say the token was revoked")
	}
	w.send(slackfake.Event{"type": "app_uninstalled", "event_ts": "1.7"}, nil)
	if conn, _ = w.store.ConnectionOf(ctx, w.community.ID, "slack"); !strings.Contains(conn.Status, "uninstalled") {
		t.Fatalf("after app_uninstalled: %q", conn.Status)
	}
}

// TestConnectingIsDecidedByTheConstitution: installing the app proposes connecting the
// workspace; until the community approves, its events govern nothing and its people are not
// members; once approved, the workspace is set up and governed.
func TestConnectingIsDecidedByTheConstitution(t *testing.T) {
	w := newWorld(t, engine.KitEverythingPasses)
	w.addPolicy(map[string]any{"kind": "constitution", "name": "Connections need a yes", "priority": 1,
		"action_types": []any{engine.TypeConnect}, "notify": `start_vote("yes_no")`,
		"check": `yes() >= 1 ? PASSED : no() >= 1 ? FAILED : PENDING`})
	if status := w.founder.oauth("/c/"+w.community.Slug+"/platforms/slack/connect", w.fake.AdminUserID(), "chat:write"); status != http.StatusSeeOther {
		t.Fatalf("install callback: %d", status)
	}
	conn, err := w.store.ConnectionOf(ctx, w.community.ID, "slack")
	if err != nil || conn.Status != models.ConnectionAwaiting {
		t.Fatalf("after install: %+v %v", conn, err)
	}
	if _, page, _ := w.founder.get("/c/" + w.community.Slug + "/platforms/slack?done=proposed"); !strings.Contains(page, "Connecting it is now a proposal") ||
		!strings.Contains(page, models.ConnectionAwaiting) {
		t.Fatalf("the Slack page does not say the connection awaits approval:\n%s", page)
	}
	members, actions := w.count("members"), w.count("actions")
	w.send(w.fake.UserPosts(w.users["alice"].ID, w.general.ID, "before approval"))
	w.flush()
	if n := w.count("actions"); n != actions || w.count("members") != members {
		t.Fatalf("an unapproved workspace governed %d actions and added %d members", n-actions, w.count("members")-members)
	}
	// Refused, not kept for later: the page says what was not governed.
	if _, page, _ := w.founder.get("/c/" + w.community.Slug + "/platforms/slack"); !strings.Contains(page, "1 thing done in the workspace") ||
		!strings.Contains(page, "was not governed") {
		t.Fatalf("the Slack page does not say an event was not governed:\n%s", page)
	}
	_, p := w.lastAction(engine.TypeConnect)
	if _, err := w.eng.CastVote(ctx, w.community.ID, p.ID, w.founderID, "yes", "web"); err != nil {
		t.Fatal(err)
	}
	w.deliver() // the set_up_connection effect
	if conn, _ := w.store.ConnectionOf(ctx, w.community.ID, "slack"); conn.Status != models.ConnectionConnected || w.count("members") <= members {
		t.Fatalf("after approval: %q, %d members", conn.Status, w.count("members"))
	}
	w.send(w.fake.UserPosts(w.users["alice"].ID, w.general.ID, "after approval"))
	w.flush()
	if n := w.count("actions"); n != actions+1 {
		t.Fatalf("%d actions after approval, want 1", n-actions)
	}
}

func slackCodeOf(err error) string {
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}
