package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"policykit/engine"
	"policykit/models"
)

// PlatformName is the platform's name and the prefix of its action types.
const PlatformName = "slack"

// Config is the Slack app's configuration (SLACK_* environment variables, see README).
type Config struct {
	ClientID     string
	ClientSecret string
	// SigningSecret verifies the Events API and interactivity requests Slack sends to the
	// public URL. AppToken (an app-level "xapp-" token) makes the server connect out to Slack
	// over Socket Mode instead, needing no public URL. Set either or both.
	SigningSecret string
	AppToken      string
	// APIURL is the Web API base, ending in "/"; default Slack's own. The OAuth consent page
	// is derived from it (…/api/ → …/oauth/v2/authorize), so one setting points everything
	// at another server.
	APIURL     string
	HTTPClient *http.Client
	// Now is the clock for request signatures and expected echoes; default time.Now.
	Now func() time.Time
	// PingInterval is how long Socket Mode waits for Slack's pings before reconnecting;
	// default slack-go's (30s).
	PingInterval time.Duration
}

// ConfigFromEnv reads the SLACK_* variables. ok is false when Slack is not configured;
// a partial configuration is an error.
func ConfigFromEnv(getenv func(string) string) (cfg Config, ok bool, err error) {
	cfg = Config{ClientID: getenv("SLACK_CLIENT_ID"), ClientSecret: getenv("SLACK_CLIENT_SECRET"),
		SigningSecret: getenv("SLACK_SIGNING_SECRET"), AppToken: getenv("SLACK_APP_TOKEN"), APIURL: getenv("SLACK_API_URL")}
	if cfg.ClientID == "" && cfg.ClientSecret == "" && cfg.SigningSecret == "" && cfg.AppToken == "" {
		return cfg, false, nil
	}
	if !cfg.Configured() {
		return cfg, false, errors.New("set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, and SLACK_SIGNING_SECRET (Events API) or SLACK_APP_TOKEN (Socket Mode), or none of them to run without Slack")
	}
	if cfg.AppToken != "" && !strings.HasPrefix(cfg.AppToken, "xapp-") {
		return cfg, false, errors.New("SLACK_APP_TOKEN is an app-level token and starts with xapp- (Basic Information → App-Level Tokens, scope connections:write)")
	}
	return cfg, true, nil
}

// Configured tells whether the app credentials are set: the OAuth client, and a way for
// Slack's events to reach the server.
func (c Config) Configured() bool {
	return c.ClientID != "" && c.ClientSecret != "" && (c.SigningSecret != "" || c.AppToken != "")
}

// Slack is the Slack platform plug-in: it implements engine.Platform (outbound effects,
// connection set-up, processing inbound deliveries), the website's connector (OAuth
// install, sign-in, linking; the Events API and interactivity endpoints) and, with an app
// token, a Socket Mode link (engine.LinkHolder).
type Slack struct {
	cfg     Config
	eng     *engine.Engine
	inbox   *engine.Inbox
	store   *models.Store
	log     *slog.Logger
	baseURL string
	oauth   string // the OAuth redirect URI
	types   map[string]engine.ActionType
}

// New builds the Slack platform on the server's engine and inbox.
func New(host engine.Host, cfg Config) *Slack {
	if cfg.APIURL == "" {
		cfg.APIURL = slackapi.APIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 20 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := host.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Slack{cfg: cfg, eng: host.Engine, inbox: host.Inbox, store: host.Engine.Store(), log: log.With("platform", PlatformName),
		baseURL: strings.TrimRight(host.BaseURL, "/"), oauth: host.CallbackURL(PlatformName), types: map[string]engine.ActionType{}}
	for _, t := range actionTypes() {
		s.types[t.Name] = t
	}
	return s
}

// Name implements engine.Platform.
func (s *Slack) Name() string { return PlatformName }

// Info implements engine.Platform.
func (s *Slack) Info() engine.PlatformInfo {
	return engine.PlatformInfo{Label: "Slack", Space: "workspace", Connect: engine.ConnectOAuth, ConnectLabel: "Add to Slack", SignIn: true,
		About: "A workspace admin connects it; the workspace's people become members. PolicyKit governs what happens in the " +
			"channels its bot is in: invite @PolicyKit to a channel to govern posts, renames, pins, topics and joins there."}
}

// Config returns the configuration in use.
func (s *Slack) Config() Config { return s.cfg }

// credentials are what a connection stores encrypted.
type credentials struct {
	BotToken    string `json:"bot_token"`
	UserToken   string `json:"user_token"` // the installing admin's: delete others' messages, rename
	AdminUserID string `json:"admin_user_id"`
	AppID       string `json:"app_id"`
	Scope       string `json:"scope"`
	UserScope   string `json:"user_scope"`
	InstalledBy int64  `json:"installed_by"` // member id
}

// workspace is a connected workspace with clients for its two tokens.
type workspace struct {
	conn  *models.PlatformConnection
	creds credentials
	bot   *slackapi.Client
	admin *slackapi.Client // nil without a user token
}

func (s *Slack) client(token string) *slackapi.Client {
	return slackapi.New(token, slackapi.OptionAPIURL(s.cfg.APIURL), slackapi.OptionHTTPClient(s.cfg.HTTPClient))
}

func (s *Slack) open(conn *models.PlatformConnection) (*workspace, error) {
	ws := &workspace{conn: conn}
	if err := s.store.Credentials(conn, &ws.creds); err != nil {
		return nil, err
	}
	ws.bot = s.client(ws.creds.BotToken)
	if ws.creds.UserToken != "" {
		ws.admin = s.client(ws.creds.UserToken)
	}
	return ws, nil
}

// workspaceOf opens the Slack workspace connected to a community. Without one, effects
// cannot be delivered until a workspace is connected: a permanent failure an admin may
// retry after connecting.
func (s *Slack) workspaceOf(ctx context.Context, communityID int64) (*workspace, error) {
	conn, err := s.store.ConnectionOf(ctx, communityID, PlatformName)
	if errors.Is(err, models.ErrNotFound) {
		return nil, engine.Permanent(err)
	}
	if err != nil {
		return nil, err
	}
	ws, err := s.open(conn)
	if err != nil {
		return nil, engine.Permanent(err)
	}
	return ws, nil
}

// workspaceByTeam opens the connection of a Slack team; ErrNotFound when no community has it.
func (s *Slack) workspaceByTeam(ctx context.Context, teamID string) (*workspace, error) {
	conn, err := s.store.ConnectionByExternalID(ctx, PlatformName, teamID)
	if err != nil {
		return nil, err
	}
	return s.open(conn)
}

// slackCode is the error code of a Slack API error reply ("" for other errors).
func slackCode(err error) string {
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// transientCode tells Slack error codes that a later attempt may not get.
func transientCode(code string) bool {
	switch code {
	case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited":
		return true
	}
	return false
}

// authCode tells codes meaning the workspace's tokens no longer work (uninstalled, revoked).
func authCode(code string) bool {
	switch code {
	case "invalid_auth", "token_revoked", "account_inactive", "not_authed", "token_expired":
		return true
	}
	return false
}

// deliveryError turns a Slack client error into what the runtime acts on: a rate limit
// reschedules without counting an attempt, an outage (5xx, network) is retried with backoff,
// and an error reply that retrying cannot change is permanent. Dead tokens also mark the
// connection, so its page says why nothing reaches Slack.
func (s *Slack) deliveryError(ctx context.Context, ws *workspace, op string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("slack %s: %w", op, err)
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		return &engine.RateLimitedError{RetryAfter: rl.RetryAfter, Err: err}
	}
	if code := slackCode(err); code != "" {
		if transientCode(code) {
			return err
		}
		if authCode(code) && ws != nil {
			if serr := s.store.SetConnectionStatus(ctx, ws.conn.ID, "disconnected: "+code); serr != nil {
				s.log.Warn("record connection status", "err", serr)
			}
		}
		return engine.Permanent(err)
	}
	var sc slackapi.StatusCodeError
	if errors.As(err, &sc) && sc.Code < 500 {
		return engine.Permanent(err)
	}
	return err
}

// echoTTL is how long an expected echo is kept: Slack delivers events within seconds, and
// retries a failed delivery for a few minutes.
const echoTTL = 10 * time.Minute

// asAdmin makes a call with the installing admin's token. Events caused by such a call carry
// the admin as their user, so they cannot be told from the admin's own actions by user id:
// the expected event (echoKey) is recorded first and recognised when it arrives. When Slack
// certainly refused the call, the expectation is dropped again.
func (s *Slack) asAdmin(ctx context.Context, ws *workspace, echoKey string, call func(*slackapi.Client) error) error {
	if ws.admin == nil {
		return engine.Permanent(errors.New("the workspace was connected without an admin user token; reconnect it"))
	}
	if echoKey != "" {
		if err := s.store.ExpectEcho(ctx, ws.conn.ID, echoKey, s.cfg.Now().Add(echoTTL)); err != nil {
			return fmt.Errorf("record expected echo: %w", err)
		}
	}
	err := call(ws.admin)
	var rl *slackapi.RateLimitedError
	if err != nil && echoKey != "" && (slackCode(err) != "" || errors.As(err, &rl)) {
		if ferr := s.store.ForgetEcho(ctx, ws.conn.ID, echoKey); ferr != nil {
			s.log.Warn("forget expected echo", "key", echoKey, "err", ferr)
		}
	}
	return err
}

// adminMayDo tells refusals of the bot token that the admin's token may not get (the bot
// is not in the channel, or workspace settings forbid apps to do it).
func adminMayDo(code string) bool {
	switch code {
	case "not_in_channel", "restricted_action", "not_authorized", "missing_scope", "cant_invite", "channel_not_found":
		return true
	}
	return false
}

// botThenAdmin tries the bot token first (its events are recognised by the bot's user id)
// and falls back to the admin's token, as PolicyKit did for kicks.
func (s *Slack) botThenAdmin(ctx context.Context, ws *workspace, echoKey string, call func(*slackapi.Client) error) error {
	err := call(ws.bot)
	if err != nil && adminMayDo(slackCode(err)) && ws.admin != nil {
		return s.asAdmin(ctx, ws, echoKey, call)
	}
	return err
}

// proposalURL links to a proposal's page.
func (s *Slack) proposalURL(c engine.Call) string {
	if c.Proposal == nil || c.Community == nil {
		return ""
	}
	return fmt.Sprintf("%s/c/%s/proposals/%d", s.baseURL, c.Community.Slug, c.Proposal.ID)
}

// parts loads what earlier attempts of this effect already sent.
func (s *Slack) parts(ctx context.Context, c engine.Call) (map[string]string, error) {
	if c.Effect.ID == 0 {
		return map[string]string{}, nil
	}
	return s.store.EffectParts(ctx, c.Effect.ID)
}

// sent records one part of this effect as delivered. A failure to record is logged, not
// returned: the message is out, and failing the effect would only send it again.
func (s *Slack) sent(ctx context.Context, c engine.Call, part, ref string) {
	if c.Effect.ID == 0 {
		return
	}
	if err := s.store.SaveEffectPart(ctx, c.Effect.ID, part, ref); err != nil {
		s.log.Warn("record sent part", "effect", c.Effect.ID, "part", part, "err", err)
	}
}

// messageRef is how a posted message is kept in references: "channel:ts".
func messageRef(channel, ts string) string { return channel + ":" + ts }

func splitRef(ref string) (channel, ts string, ok bool) {
	channel, ts, ok = strings.Cut(ref, ":")
	return channel, ts, ok && channel != "" && ts != ""
}

var _ engine.Platform = (*Slack)(nil)
