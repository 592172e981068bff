package slackfake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// firstTS is the clock the fake starts message timestamps from, so that
// timestamps look like Slack's ("1700000000.000100") and sort in posting order.
const firstTS = 1700000000

// User is a workspace member as the fake stores it.
type User struct {
	ID       string // "U…"; assigned by AddUser when empty
	Name     string // handle, e.g. "alice"
	RealName string
	IsAdmin  bool
	IsOwner  bool
	IsBot    bool
	Deleted  bool // deactivated: listed by users.list, its tokens answer account_inactive
}

// Channel is a conversation as the fake stores it. DMs (IsIM) and group DMs
// (IsMpIM) are channels too, so Messages works on them.
type Channel struct {
	ID            string // "C…" ("D…" for DMs, "G…" for group DMs); assigned by AddChannel when empty
	Name          string
	Topic         string
	Creator       string // defaults to the first member, else the admin user
	Members       []string
	IsPrivate     bool
	IsGeneral     bool // #general: nobody can be kicked from it
	IsIM          bool
	IsMpIM        bool
	PreviousNames []string
}

// Message is a message in a channel's history.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	User     string // author; the bot user for bot-token posts
	BotID    string // set when posted with the bot token
	Text     string
	Blocks   json.RawMessage // Block Kit JSON as stored (Slack fills in missing block_ids)
	Edited   bool
	// Reactions in the order they were first added.
	Reactions []Reaction
}

// Reaction is one emoji on a message and who added it.
type Reaction struct {
	Name  string
	Users []string
}

// Ephemeral is a message only one user saw (chat.postEphemeral, or a
// response_url reply that did not replace the original).
type Ephemeral struct {
	Channel  string
	User     string // who sees it
	PostedBy string // the user id behind the token (the bot user for the bot token)
	TS       string
	Text     string
	Blocks   json.RawMessage
}

// Call is one request the fake received, recorded before it was answered.
type Call struct {
	Method string // Web API method, or "response_url"
	Token  string
	Form   url.Values // form (or JSON object) fields; response_url calls keep Body instead
	Body   []byte     // raw body of response_url calls
	Status int        // HTTP status the fake answered with
}

// OAuthGrant is an authorization code a test has handed out, as Slack would
// after the installer approved the app.
type OAuthGrant struct {
	Code         string
	ClientID     string
	ClientSecret string
	RedirectURI  string // checked when non-empty, as Slack checks it against the authorize request
	UserID       string // installer; defaults to the admin user
	Scope        string // bot scopes reported back
	UserScope    string // user scopes reported back
}

type principal struct {
	userID string
	bot    bool
}

type fault struct {
	skip       int // calls to let through before failing
	remaining  int
	status     int
	retryAfter time.Duration
}

type channel struct {
	Channel
	created      int64
	topicCreator string
	topicSet     int64
}

type message struct {
	Message
	reactions []*Reaction
}

type responseTarget struct {
	channel string
	ts      string
	user    string
	uses    int
}

// Server is a fake Slack workspace served over HTTP. All methods are safe for
// concurrent use.
type Server struct {
	srv    *httptest.Server
	client *http.Client

	mu         sync.Mutex
	teamID     string
	teamName   string
	appID      string
	botID      string
	botUserID  string
	adminID    string
	botToken   string
	adminToken string
	verifyTok  string

	idSeq  int
	clock  int64
	tokens map[string]principal // token → owner
	revoke map[string]bool
	users  map[string]*User
	uorder []string
	chans  map[string]*channel
	corder []string
	dms    map[string]string // sorted member ids joined by "," → DM channel id
	msgs   map[string][]*message
	pins   map[string][]string
	ephem  []Ephemeral
	calls  []Call
	faults map[string]*fault
	grants map[string]OAuthGrant
	resp   map[string]*responseTarget
	echoes []Event
	deny   map[string]string // method → error code for bot-token calls

	stalls  map[string]int // method → calls still to hang (Stall)
	stalled map[string]int // method → calls that hung
	release chan struct{}  // closed by ReleaseStalls

	// Socket Mode (socketmode.go)
	appToken  string
	tickets   map[string]bool // websocket URLs issued and not used yet
	sockets   []*socketConn
	acked     map[string]bool // envelope ids the app acknowledged
	pingEvery time.Duration
}

// New starts a fake workspace with a bot user (reachable with BotToken) and
// an admin user (reachable with AdminToken). Close it when done.
func New() *Server {
	s := &Server{
		client:    &http.Client{Timeout: 30 * time.Second},
		teamName:  "PolicyKit Test",
		tokens:    map[string]principal{},
		revoke:    map[string]bool{},
		users:     map[string]*User{},
		chans:     map[string]*channel{},
		dms:       map[string]string{},
		msgs:      map[string][]*message{},
		pins:      map[string][]string{},
		faults:    map[string]*fault{},
		grants:    map[string]OAuthGrant{},
		resp:      map[string]*responseTarget{},
		deny:      map[string]string{},
		stalls:    map[string]int{},
		stalled:   map[string]int{},
		release:   make(chan struct{}),
		tickets:   map[string]bool{},
		acked:     map[string]bool{},
		pingEvery: 5 * time.Second,
	}
	s.teamID = s.newID("T")
	s.appID = s.newID("A")
	s.botID = s.newID("B")
	s.botUserID = s.addUserLocked(User{Name: "policykit", RealName: "PolicyKit", IsBot: true}).ID
	s.adminID = s.addUserLocked(User{Name: "admin", RealName: "Ada Admin", IsAdmin: true, IsOwner: true}).ID
	s.botToken = "xoxb-" + randomToken()
	s.adminToken = "xoxp-" + randomToken()
	s.verifyTok = randomToken()[:24]
	s.appToken = "xapp-1-" + s.appID + "-" + randomToken()
	s.tokens[s.botToken] = principal{userID: s.botUserID, bot: true}
	s.tokens[s.adminToken] = principal{userID: s.adminID}

	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.serveAPI)
	mux.HandleFunc("POST /respond/{id}", s.serveResponseURL)
	mux.HandleFunc("GET /link/", s.serveSocket)
	s.srv = httptest.NewServer(mux)
	return s
}

// Close shuts the HTTP server down.
func (s *Server) Close() { s.srv.Close() }

// URL is the server's base URL, e.g. "http://127.0.0.1:1234".
func (s *Server) URL() string { return s.srv.URL }

// APIURL is the value for slack.OptionAPIURL and slack.OAuthOptionAPIURL;
// it ends with "/" because slack-go appends method names to it.
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// BotToken is the xoxb- token of the installed app's bot user.
func (s *Server) BotToken() string { return s.botToken }

// AdminToken is the xoxp- token of the admin user who installed the app.
func (s *Server) AdminToken() string { return s.adminToken }

// BotUserID is the user id of the bot (what events carry as "user").
func (s *Server) BotUserID() string { return s.botUserID }

// BotID is the bot id ("B…") that bot-posted messages carry as "bot_id".
func (s *Server) BotID() string { return s.botID }

// AdminUserID is the id of the admin user behind AdminToken.
func (s *Server) AdminUserID() string { return s.adminID }

// TeamID is the workspace id.
func (s *Server) TeamID() string { return s.teamID }

// AppID is the app id reported in OAuth replies and event envelopes.
func (s *Server) AppID() string { return s.appID }

// AddUser adds a workspace member and returns it with its id filled in.
// It panics on a duplicate id, because that is a broken test setup.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUserLocked(u)
}

func (s *Server) addUserLocked(u User) User {
	if u.ID == "" {
		u.ID = s.newID("U")
	}
	if _, dup := s.users[u.ID]; dup {
		panic(fmt.Sprintf("slackfake: duplicate user id %s", u.ID))
	}
	if u.Name == "" {
		u.Name = strings.ToLower(u.ID)
	}
	if u.RealName == "" {
		u.RealName = u.Name
	}
	c := u
	s.users[u.ID] = &c
	s.uorder = append(s.uorder, u.ID)
	return u
}

// Deactivate deactivates a user, as an admin does when someone leaves: users.list still
// lists them, their tokens answer account_inactive, and messages to them user_disabled.
func (s *Server) Deactivate(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[userID]; u != nil {
		u.Deleted = true
	}
}

// UserToken returns a user (xoxp-) token for userID, issuing one the first
// time. The admin user's token is AdminToken.
func (s *Server) UserToken(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userTokenLocked(userID)
}

func (s *Server) userTokenLocked(userID string) string {
	if userID == s.adminID {
		return s.adminToken
	}
	for tok, p := range s.tokens {
		if p.userID == userID && !p.bot && !s.revoke[tok] {
			return tok
		}
	}
	tok := "xoxp-" + randomToken()
	s.tokens[tok] = principal{userID: userID}
	return tok
}

// Stall makes the next n calls of method hang without being applied, until ReleaseStalls
// (or the caller gives up): a Slack that stops answering while a call is in flight.
func (s *Server) Stall(method string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalls[method] += n
}

// Stalled counts the calls of method that hung.
func (s *Server) Stalled(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stalled[method]
}

// ReleaseStalls ends the hanging calls (answered 504, not applied); later calls are served.
func (s *Server) ReleaseStalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.release)
	s.release = make(chan struct{})
	s.stalls = map[string]int{}
}

// RevokeToken makes later calls with token fail with token_revoked, as after
// an uninstall.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoke[token] = true
}

// AddChannel adds a channel and returns it with its id (and creator) filled
// in. It panics on an invalid or duplicate name, an unknown member or a
// duplicate id, because that is a broken test setup.
func (s *Server) AddChannel(c Channel) Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code := validChannelName(c.Name); code != "" {
		panic(fmt.Sprintf("slackfake: AddChannel %q: %s", c.Name, code))
	}
	if s.channelByNameLocked(c.Name) != nil {
		panic(fmt.Sprintf("slackfake: AddChannel %q: name_taken", c.Name))
	}
	if c.ID == "" {
		c.ID = s.newID("C")
	}
	if _, dup := s.chans[c.ID]; dup {
		panic(fmt.Sprintf("slackfake: duplicate channel id %s", c.ID))
	}
	for _, m := range c.Members {
		if s.users[m] == nil {
			panic(fmt.Sprintf("slackfake: AddChannel %q: unknown member %s", c.Name, m))
		}
	}
	if c.Creator == "" {
		c.Creator = s.adminID
		if len(c.Members) > 0 {
			c.Creator = c.Members[0]
		}
	}
	c.Members = slices.Clone(c.Members)
	c.PreviousNames = slices.Clone(c.PreviousNames)
	ch := &channel{Channel: c, created: firstTS - 86400}
	if c.Topic != "" {
		ch.topicCreator, ch.topicSet = c.Creator, ch.created
	}
	s.chans[c.ID] = ch
	s.corder = append(s.corder, c.ID)
	return cloneChannel(ch.Channel)
}

// RegisterOAuthCode hands out an authorization code that oauth.v2.access will
// exchange once for the bot token and the installer's user token.
func (s *Server) RegisterOAuthCode(g OAuthGrant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.UserID == "" {
		g.UserID = s.adminID
	}
	s.grants[g.Code] = g
}

// RestrictBot makes bot-token calls of method fail with code (for example
// "restricted_action" for conversations.kick), the way workspace settings can
// forbid apps from doing things admins may still do.
func (s *Server) RestrictBot(method, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny[method] = code
}

// FailNext makes the next n calls of method ("response_url" for the
// response_url route) fail without changing state, replacing any earlier
// FailNext for that method: status 429 answers with
// Retry-After in whole seconds (rounded up), any other status answers with
// that status and an HTML body, as Slack's edge does.
func (s *Server) FailNext(method string, n int, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = &fault{remaining: n, status: status, retryAfter: retryAfter}
}

// FailAfter is FailNext after letting the next skip calls of method succeed, to interrupt
// a delivery halfway (the second of three direct messages is rate limited…).
func (s *Server) FailAfter(method string, skip, n int, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = &fault{skip: skip, remaining: n, status: status, retryAfter: retryAfter}
}

// Channel returns a copy of a channel's current state.
func (s *Server) Channel(id string) (Channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chans[id]
	if !ok {
		return Channel{}, false
	}
	return cloneChannel(c.Channel), true
}

// ChannelByName returns a copy of the channel currently called name.
func (s *Server) ChannelByName(name string) (Channel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channelByNameLocked(name)
	if c == nil {
		return Channel{}, false
	}
	return cloneChannel(c.Channel), true
}

// User returns a copy of a user.
func (s *Server) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// Messages returns a copy of a channel's posted messages, oldest first.
// System messages (channel_name, channel_topic, channel_join) are delivered
// as events but not kept here, so tests can count what was posted.
func (s *Server) Messages(channelID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.msgs[channelID]))
	for _, m := range s.msgs[channelID] {
		out = append(out, m.snapshot())
	}
	return out
}

// Message returns a copy of one message.
func (s *Server) Message(channelID, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findMessageLocked(channelID, ts)
	if m == nil {
		return Message{}, false
	}
	return m.snapshot(), true
}

// Pins returns the timestamps of the messages pinned in a channel, in pin order.
func (s *Server) Pins(channelID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pins[channelID])
}

// Ephemerals returns every ephemeral message shown so far.
func (s *Server) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ephem)
}

// Calls returns every call of method so far, oldest first ("" for all).
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			c.Form = cloneValues(c.Form)
			c.Body = slices.Clone(c.Body)
			out = append(out, c)
		}
	}
	return out
}

// CallCount is the number of calls of method so far, failed ones included.
func (s *Server) CallCount(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// Echoes returns, and forgets, the events Slack would have delivered to the
// app because of Web API calls (the bot's own posts, a rename back, a kick…).
// Sending them to the server under test checks that it recognises its own
// actions and does not govern them again.
func (s *Server) Echoes() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.echoes
	s.echoes = nil
	return out
}

// serveAPI answers /api/{method}. Order of checks follows Slack: an outage or
// rate limit hides everything, then unknown methods, then authentication.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	form, err := readForm(r)
	if err != nil {
		writeJSON(w, fail("invalid_form_data"))
		return
	}
	token := form.Get("token")
	if token == "" {
		token, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	form.Del("token")

	s.mu.Lock()
	if s.stalls[method] > 0 { // a Slack that stops answering mid-call: nothing is applied
		s.stalls[method]--
		s.stalled[method]++
		release := s.release
		s.mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "stalled", http.StatusGatewayTimeout)
		return
	}
	if f := s.takeFaultLocked(method); f != nil {
		s.calls = append(s.calls, Call{Method: method, Token: token, Form: form, Status: f.status})
		s.mu.Unlock()
		writeFault(w, f)
		return
	}
	s.calls = append(s.calls, Call{Method: method, Token: token, Form: form, Status: http.StatusOK})
	out := s.dispatchLocked(method, token, form, r)
	s.mu.Unlock()
	writeJSON(w, out)
}

func (s *Server) dispatchLocked(method, token string, form url.Values, r *http.Request) reply {
	h, ok := s.handler(method)
	if !ok {
		return fail("unknown_method")
	}
	if method == "oauth.v2.access" { // authenticated by client credentials, not a token
		return h(&request{form: form, http: r})
	}
	if method == "apps.connections.open" { // only the app-level token may open Socket Mode
		switch {
		case token == "":
			return fail("not_authed")
		case token != s.appToken:
			return fail("not_allowed_token_type")
		}
		return h(&request{token: token, form: form, http: r})
	}
	who, code := s.authLocked(token)
	if code != "" {
		return fail(code)
	}
	if code, denied := s.deny[method]; denied && who.bot {
		return fail(code)
	}
	return h(&request{who: who, token: token, form: form, http: r})
}

func (s *Server) authLocked(token string) (principal, string) {
	if token == "" {
		return principal{}, "not_authed"
	}
	p, ok := s.tokens[token]
	if !ok {
		return principal{}, "invalid_auth"
	}
	if s.revoke[token] {
		return principal{}, "token_revoked"
	}
	if u := s.users[p.userID]; u == nil || u.Deleted {
		return principal{}, "account_inactive"
	}
	return p, ""
}

func (s *Server) takeFaultLocked(method string) *fault {
	f := s.faults[method]
	if f == nil || f.remaining <= 0 {
		return nil
	}
	if f.skip > 0 {
		f.skip--
		return nil
	}
	f.remaining--
	c := *f
	return &c
}

func writeFault(w http.ResponseWriter, f *fault) {
	if f.status == http.StatusTooManyRequests {
		secs := int64(math.Ceil(f.retryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 0), 10))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(f.status)
	_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", f.status, http.StatusText(f.status))
}

// readForm reads form-encoded bodies (what slack-go sends for nearly every
// method) and, for the few JSON methods, flattens the top-level object into
// the same shape.
func readForm(r *http.Request) (url.Values, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		if err := r.ParseForm(); err != nil {
			return nil, fmt.Errorf("parse form: %w", err)
		}
		return cloneValues(r.Form), nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	var obj map[string]json.RawMessage
	if len(bytes.TrimSpace(body)) == 0 { // apps.connections.open posts no body
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("decode json body: %w", err)
	}
	form := cloneValues(r.URL.Query())
	for k, raw := range obj {
		var str string
		if json.Unmarshal(raw, &str) == nil {
			form.Set(k, str)
		} else {
			form.Set(k, string(raw))
		}
	}
	return form, nil
}

type reply map[string]any

func fail(code string) reply { return reply{"ok": false, "error": code} }

func success(fields reply) reply {
	if fields == nil {
		fields = reply{}
	}
	fields["ok"] = true
	return fields
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// newID makes an id shaped like Slack's: a type letter and eight more
// upper-case characters, unique within this server.
func (s *Server) newID(prefix string) string {
	s.idSeq++
	return fmt.Sprintf("%s0%07X", prefix, s.idSeq)
}

// nextTS hands out message timestamps. They are unique and increasing, which
// is all Slack promises within a channel.
func (s *Server) nextTS() string {
	s.clock++
	return fmt.Sprintf("%d.%06d", firstTS+s.clock-1, 100)
}

func randomToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func cloneChannel(c Channel) Channel {
	c.Members = slices.Clone(c.Members)
	c.PreviousNames = slices.Clone(c.PreviousNames)
	return c
}

func (m *message) snapshot() Message {
	out := m.Message
	out.Blocks = slices.Clone(m.Blocks)
	out.Reactions = nil
	for _, r := range m.reactions {
		out.Reactions = append(out.Reactions, Reaction{Name: r.Name, Users: slices.Clone(r.Users)})
	}
	return out
}

func (s *Server) channelByNameLocked(name string) *channel {
	for _, id := range s.corder {
		if c := s.chans[id]; !c.IsIM && !c.IsMpIM && c.Name == name {
			return c
		}
	}
	return nil
}

func (s *Server) findMessageLocked(channelID, ts string) *message {
	for _, m := range s.msgs[channelID] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

func sortedKey(ids []string) string {
	c := slices.Clone(ids)
	slices.Sort(c)
	return strings.Join(slices.Compact(c), ",")
}
