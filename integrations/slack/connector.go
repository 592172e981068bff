package slack

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	slackapi "github.com/slack-go/slack"

	"policykit/engine"
	"policykit/models"
)

// Scopes requested at install; README's app manifest lists the same.
const (
	BotScopes = "channels:history,groups:history,channels:read,groups:read,channels:manage,groups:write," +
		"chat:write,chat:write.public,pins:read,pins:write,users:read,im:write"
	// UserScopes are the installing admin's: deleting others' messages and renaming channels
	// need a person's token, which Slack grants admins.
	UserScopes = "chat:write,channels:write,groups:write,pins:write"
)

// CallbackPath is where Slack sends people back after consent.
var CallbackPath = engine.CallbackPath(PlatformName)

// AuthorizeURL is Slack's consent page for purpose; state comes back with the code and is
// checked by the website against the browser's cookie.
func (s *Slack) AuthorizeURL(purpose, state string) string {
	v := url.Values{"client_id": {s.cfg.ClientID}, "state": {state}, "redirect_uri": {s.oauth}}
	if purpose == engine.PurposeConnect {
		v.Set("scope", BotScopes)
		v.Set("user_scope", UserScopes)
	} else {
		v.Set("user_scope", "identity.basic")
	}
	return strings.TrimSuffix(s.cfg.APIURL, "api/") + "oauth/v2/authorize?" + v.Encode()
}

// exchange trades an authorization code for tokens and the identity of who consented.
func (s *Slack) exchange(ctx context.Context, code string) (*slackapi.OAuthV2Response, error) {
	if code == "" {
		return nil, models.Invalid("code", "Slack sent no authorization code")
	}
	resp, err := slackapi.GetOAuthV2ResponseContext(ctx, s.cfg.HTTPClient, s.cfg.ClientID, s.cfg.ClientSecret, code,
		s.oauth, slackapi.OAuthOptionAPIURL(s.cfg.APIURL))
	if c := slackCode(err); c != "" {
		return nil, models.Invalid("code", fmt.Sprintf("Slack did not accept the authorization (%s); please try again", c))
	}
	if err != nil {
		return nil, fmt.Errorf("slack oauth.v2.access: %w", err)
	}
	if resp.Team.ID == "" || resp.AuthedUser.ID == "" {
		return nil, models.Invalid("code", "Slack's answer names no workspace or user")
	}
	return resp, nil
}

// Connect connects a workspace to a community ("Add to Slack", the OAuth callback's query in
// in): it checks that the person who consented is a workspace admin (their token reverts
// others' actions), stores both tokens encrypted and links the installer's Slack account to
// the installing member. A new connection awaits the community's approval; installing again
// only renews the tokens.
func (s *Slack) Connect(ctx context.Context, c *models.Community, installer *models.Member, in url.Values) (*models.PlatformConnection, error) {
	resp, err := s.exchange(ctx, in.Get("code"))
	if err != nil {
		return nil, err
	}
	if resp.AccessToken == "" || resp.AuthedUser.AccessToken == "" {
		return nil, models.Invalid("code", "Slack did not grant the permissions PolicyKit needs; add it again and approve them")
	}
	bot := s.client(resp.AccessToken)
	u, err := bot.GetUserInfoContext(ctx, resp.AuthedUser.ID)
	if err != nil {
		return nil, fmt.Errorf("look up the installer: %w", err)
	}
	if !u.IsAdmin && !u.IsOwner {
		return nil, fmt.Errorf("only an admin or owner of the Slack workspace can connect it: %w", models.ErrForbidden)
	}
	status := models.ConnectionAwaiting
	if existing, err := s.store.ConnectionOf(ctx, c.ID, PlatformName); err == nil {
		if existing.ExternalID != resp.Team.ID {
			return nil, fmt.Errorf("this community is connected to the Slack workspace %q; disconnect it first: %w", existing.Name, models.ErrConflict)
		}
		if existing.Status == models.ConnectionDisconnecting {
			return nil, fmt.Errorf("the Slack workspace is being disconnected; connect it again once that is done: %w", models.ErrConflict)
		}
		status = existing.Status
	}
	conn := &models.PlatformConnection{CommunityID: c.ID, Platform: PlatformName, ExternalID: resp.Team.ID, Name: resp.Team.Name,
		BotUserID: resp.BotUserID, Status: status}
	creds := credentials{BotToken: resp.AccessToken, UserToken: resp.AuthedUser.AccessToken, AdminUserID: resp.AuthedUser.ID,
		AppID: resp.AppID, Scope: resp.Scope, UserScope: resp.AuthedUser.Scope, InstalledBy: installer.ID}
	if err := s.store.SaveConnection(ctx, conn, creds); err != nil {
		return nil, err
	}
	err = s.store.ClaimIdentity(ctx, models.PlatformIdentity{CommunityID: c.ID, MemberID: installer.ID, Platform: PlatformName,
		Workspace: resp.Team.ID, ExternalID: u.ID, Username: u.Name})
	if err != nil && !errors.Is(err, models.ErrConflict) {
		return nil, err
	}
	return conn, nil
}

// SetUp implements engine.Platform: once the community approved the connection, the
// workspace's people become members and its channels are learnt.
func (s *Slack) SetUp(ctx context.Context, conn *models.PlatformConnection) error {
	ws, err := s.open(conn)
	if err != nil {
		return engine.Permanent(err)
	}
	return s.setUp(ctx, ws)
}

// TearDown implements engine.Platform: the community disconnected the workspace, so the app
// gives its tokens up (auth.revoke) and Slack stops sending its events. Tokens that no longer
// work are already given up.
func (s *Slack) TearDown(ctx context.Context, conn *models.PlatformConnection) error {
	ws, err := s.open(conn)
	if err != nil {
		return engine.Permanent(err)
	}
	for _, c := range []*slackapi.Client{ws.admin, ws.bot} {
		if c == nil {
			continue
		}
		if _, err := c.SendAuthRevokeContext(ctx, ""); err != nil && !authCode(slackCode(err)) {
			return s.deliveryError(ctx, nil, "auth.revoke", err)
		}
	}
	return nil
}

// setUp adds the workspace's people as members and learns its channels.
func (s *Slack) setUp(ctx context.Context, ws *workspace) error {
	n, err := s.SyncMembers(ctx, ws)
	if err != nil {
		return s.deliveryError(ctx, ws, "users.list", err)
	}
	if err := s.syncChannels(ctx, ws); err != nil {
		return s.deliveryError(ctx, ws, "conversations.list", err)
	}
	s.log.Info("slack workspace set up", "team", ws.conn.ExternalID, "community", ws.conn.CommunityID, "new_members", n)
	return nil
}

// SyncMembers adds the workspace's people who are not members yet; it returns how many.
func (s *Slack) SyncMembers(ctx context.Context, ws *workspace) (int, error) {
	users, err := ws.bot.GetUsersContext(ctx, slackapi.GetUsersOptionLimit(200))
	if err != nil {
		return 0, fmt.Errorf("slack users.list: %w", err)
	}
	added, err := s.store.AddPlatformMembers(ctx, ws.conn.CommunityID, PlatformName, ws.conn.ExternalID, syncable(users, ws))
	return len(added), err
}

// syncChannels remembers the names and topics of the channels the bot can see.
func (s *Slack) syncChannels(ctx context.Context, ws *workspace) error {
	var all []models.PlatformChannel
	cursor := ""
	for {
		page, next, err := ws.bot.GetConversationsContext(ctx, &slackapi.GetConversationsParameters{
			Types: []string{"public_channel", "private_channel"}, ExcludeArchived: true, Limit: 200, Cursor: cursor})
		if err != nil {
			return fmt.Errorf("slack conversations.list: %w", err)
		}
		for _, ch := range page {
			all = append(all, models.PlatformChannel{ConnectionID: ws.conn.ID, ChannelID: ch.ID, Name: ch.Name, Topic: ch.Topic.Value})
		}
		if next == "" {
			return s.store.SaveChannels(ctx, all)
		}
		cursor = next
	}
}

// SignIn is "Sign in with Slack": the Slack user's member in the community that connected
// their workspace (created on first sign-in) and that member's web login (also created the
// first time, without a password).
func (s *Slack) SignIn(ctx context.Context, callback url.Values) (*models.Account, *models.Community, error) {
	resp, err := s.exchange(ctx, callback.Get("code"))
	if err != nil {
		return nil, nil, err
	}
	ws, err := s.workspaceByTeam(ctx, resp.Team.ID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil, fmt.Errorf("this Slack workspace is not connected to a community here; an admin of the workspace can connect it first: %w", models.ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	community, err := s.store.CommunityByID(ctx, ws.conn.CommunityID)
	if err != nil {
		return nil, nil, err
	}
	m, err := s.memberFor(ctx, ws, resp.AuthedUser.ID)
	if err != nil {
		return nil, nil, err
	}
	if m.LeftAt != nil {
		return nil, nil, fmt.Errorf("you have left %s: %w", community.Name, models.ErrForbidden)
	}
	if m.AccountID != nil {
		acct, err := s.store.AccountByID(ctx, *m.AccountID)
		return acct, community, err
	}
	email := strings.ToLower(fmt.Sprintf("%s.%s@slack.invalid", resp.AuthedUser.ID, resp.Team.ID))
	acct, err := s.store.PlatformAccount(ctx, m.DisplayName, email)
	if err != nil {
		return nil, nil, err
	}
	if err := s.store.LinkAccount(ctx, community.ID, m.ID, acct.ID); err != nil {
		return nil, nil, err
	}
	return acct, community, nil
}

// Link links the Slack account that consented to a member who already has a web login.
func (s *Slack) Link(ctx context.Context, c *models.Community, m *models.Member, callback url.Values) error {
	resp, err := s.exchange(ctx, callback.Get("code"))
	if err != nil {
		return err
	}
	ws, err := s.workspaceOf(ctx, c.ID)
	if err != nil {
		return models.Invalid("workspace", "no Slack workspace is connected to this community")
	}
	if ws.conn.ExternalID != resp.Team.ID {
		return models.Invalid("workspace", "that Slack account is in another workspace than the one connected to this community")
	}
	username := ""
	if u, err := ws.bot.GetUserInfoContext(ctx, resp.AuthedUser.ID); err == nil {
		username = u.Name
	}
	return s.store.ClaimIdentity(ctx, models.PlatformIdentity{CommunityID: c.ID, MemberID: m.ID, Platform: PlatformName,
		Workspace: resp.Team.ID, ExternalID: resp.AuthedUser.ID, Username: username})
}
