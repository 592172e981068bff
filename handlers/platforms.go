package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"policykit/engine"
	"policykit/models"
)

// Connector is what a platform plug-in offers the website (DESIGN §10): how a community
// connects it (consent on the platform's own page, or a credentials form), signing in and
// linking an account by OAuth, and the endpoints the platform calls. main.go registers one
// per configured platform (UsePlatform); handlers never import integrations. One set of
// routes and one template (platform.html) serve every platform.
type Connector interface {
	// Name is the platform's short name, as in its paths: /c/<slug>/platforms/<name>,
	// /integrations/<name>/signin, and the OAuth callback engine.CallbackPath(name).
	Name() string
	// Info describes the platform for its page.
	Info() engine.PlatformInfo
	// AuthorizeURL is the platform's consent page for a purpose (engine.PurposeConnect,
	// PurposeSignIn, PurposeLink); state comes back with the browser to the callback.
	AuthorizeURL(purpose, state string) string
	// Connect stores the community's connection from what the browser brought: the OAuth
	// callback's query (engine.ConnectOAuth) or the submitted credentials form
	// (engine.ConnectForm), checked with the platform first. A new connection awaits the
	// community's approval; connecting again only renews its credentials.
	Connect(ctx context.Context, c *models.Community, by *models.Member, in url.Values) (*models.PlatformConnection, error)
	// SignIn is "Sign in with <platform>": the member of the platform user who consented, in
	// the community that connected their account, and that member's web login (created the
	// first time).
	SignIn(ctx context.Context, callback url.Values) (*models.Account, *models.Community, error)
	// Link links the platform account that consented to a member who has a web login.
	Link(ctx context.Context, c *models.Community, m *models.Member, callback url.Values) error
	// Webhooks are the endpoints the platform calls, path → POST handler. They are mounted
	// outside sessions and CSRF: each checks the platform's signature on the raw body.
	Webhooks() map[string]http.Handler
}

// platformLink is a configured platform as navigation and the sign-in page list it.
type platformLink struct {
	Name   string
	Label  string
	SignIn bool
}

// UsePlatform registers a platform's connector. Call it before Router.
func (h *Handler) UsePlatform(c Connector) {
	if h.platforms == nil {
		h.platforms = map[string]Connector{}
	}
	h.platforms[c.Name()] = c
	h.platformLinks = append(h.platformLinks, platformLink{Name: c.Name(), Label: c.Info().Label, SignIn: c.Info().SignIn})
	sort.Slice(h.platformLinks, func(i, j int) bool { return h.platformLinks[i].Label < h.platformLinks[j].Label })
}

func (h *Handler) platformRoutes(web, c *gin.RouterGroup) {
	web.GET("/integrations/:platform/signin", h.platformSignIn)
	web.GET(engine.CallbackPath(":platform"), h.platformCallback)
	c.GET("/platforms/:platform", h.platformPage)
	c.GET("/platforms/:platform/connect", h.platformConsent(engine.PurposeConnect))
	c.POST("/platforms/:platform/connect", h.platformConnectForm)
	c.GET("/platforms/:platform/link", h.platformConsent(engine.PurposeLink))
}

func (h *Handler) mountWebhooks(r *gin.Engine) {
	for _, p := range h.platforms {
		for path, handler := range p.Webhooks() {
			r.POST(path, gin.WrapH(handler))
		}
	}
}

// connector is the configured platform named in the path; anything else is not found.
func (h *Handler) connector(c *gin.Context) (Connector, error) {
	if p, ok := h.platforms[c.Param("platform")]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("no platform %q on this server: %w", c.Param("platform"), models.ErrNotFound)
}

// platformPage shows the community's connection to a platform, how to connect it, and the
// visitor's linked accounts.
func (h *Handler) platformPage(c *gin.Context) {
	p, err := h.connector(c)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.renderPlatform(c, p, http.StatusOK, gin.H{"Notice": platformNotice(p.Info(), c.Query("done"))})
}

func (h *Handler) renderPlatform(c *gin.Context, p Connector, status int, data gin.H) {
	ctx := c.Request.Context()
	comm, me := currentCommunity(c), currentMember(c)
	data["Name"], data["Info"] = p.Name(), p.Info()
	if data["Values"] == nil {
		data["Values"] = map[string]string{}
	}
	conn, err := h.store.ConnectionOf(ctx, comm.ID, p.Name())
	switch {
	case err == nil:
		linked, err := h.store.CountIdentities(ctx, comm.ID, p.Name())
		if err != nil {
			h.pageFail(c, err)
			return
		}
		data["Connection"], data["Linked"] = conn, linked
	case !errors.Is(err, models.ErrNotFound):
		h.pageFail(c, err)
		return
	}
	ids, err := h.store.IdentitiesOfMember(ctx, comm.ID, me.ID)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	var others []linkedAccount
	for _, id := range ids {
		if id.Platform == p.Name() {
			data["Mine"] = id
		} else {
			others = append(others, linkedAccount{Label: h.platformLabel(id.Platform), Username: id.Username, ExternalID: id.ExternalID})
		}
	}
	data["OtherAccounts"] = others
	h.render(c, status, "platform", data)
}

// linkedAccount is one of a member's platform identities, as pages show it.
type linkedAccount struct {
	Label      string
	Username   string
	ExternalID string
}

// platformLabel is a platform's name for people (its label); its short name when it is not
// configured here.
func (h *Handler) platformLabel(name string) string {
	if p, ok := h.platforms[name]; ok {
		return p.Info().Label
	}
	return name
}

// platformNotice is the confirmation shown after connecting or linking.
func platformNotice(info engine.PlatformInfo, done string) string {
	switch done {
	case "approved":
		return fmt.Sprintf("%s is connected: the community's rules approved it at once. Setting it up (its people become members) takes a moment.", info.Label)
	case "renewed":
		return fmt.Sprintf("The %s connection's credentials are renewed.", info.Label)
	case "linked":
		return fmt.Sprintf("Your %s account is linked.", info.Label)
	case "proposed":
		return fmt.Sprintf("%s is installed. Connecting it is now a proposal: the %s is governed once the community approves it.", info.Label, info.Space)
	}
	return ""
}

// OAuth state: a cookie carries "platform:purpose:slug:nonce" through the platform's consent
// page; the nonce is the OAuth state, so a callback this browser did not start is refused.
const oauthStateCookie = "pk_oauth"

// platformConsent sends a member to the platform's consent page to connect the community or
// link their account.
func (h *Handler) platformConsent(purpose string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := h.connector(c)
		if err != nil {
			h.pageFail(c, err)
			return
		}
		info := p.Info()
		if (purpose == engine.PurposeConnect && info.Connect != engine.ConnectOAuth) || (purpose == engine.PurposeLink && !info.SignIn) {
			h.pageFail(c, fmt.Errorf("%s is not connected that way: %w", info.Label, models.ErrNotFound))
			return
		}
		h.redirectToConsent(c, p, purpose, currentCommunity(c).Slug)
	}
}

func (h *Handler) platformSignIn(c *gin.Context) {
	p, err := h.connector(c)
	if err == nil && !p.Info().SignIn {
		err = fmt.Errorf("no sign-in with %s: %w", p.Info().Label, models.ErrNotFound)
	}
	if err != nil {
		h.pageFail(c, err)
		return
	}
	h.redirectToConsent(c, p, engine.PurposeSignIn, "")
}

func (h *Handler) redirectToConsent(c *gin.Context, p Connector, purpose, slug string) {
	nonce := models.RandomCode(24)
	h.setCookie(c, oauthStateCookie, strings.Join([]string{p.Name(), purpose, slug, nonce}, ":"), 600)
	c.Redirect(http.StatusSeeOther, p.AuthorizeURL(purpose, nonce))
}

// platformCallback is where the platform sends the browser back. The state must match the
// cookie this browser got when it left, for this platform; the cookie says what the round
// trip was for.
func (h *Handler) platformCallback(c *gin.Context) {
	p, err := h.connector(c)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	cookie, _ := c.Cookie(oauthStateCookie)
	h.setCookie(c, oauthStateCookie, "", -1)
	parts := strings.SplitN(cookie, ":", 4)
	if len(parts) != 4 || parts[0] != p.Name() || parts[3] == "" || subtle.ConstantTimeCompare([]byte(parts[3]), []byte(c.Query("state"))) != 1 {
		h.pageFail(c, fmt.Errorf("this %s sign-in did not start here or has expired; please start again: %w", p.Info().Label, errBadRequest))
		return
	}
	purpose, slug := parts[1], parts[2]
	if e := c.Query("error"); e != "" {
		h.pageFail(c, models.Invalid(p.Name(), fmt.Sprintf("%s did not authorize PolicyKit (%s)", p.Info().Label, e)))
		return
	}
	ctx := c.Request.Context()
	if purpose == engine.PurposeSignIn {
		acct, comm, err := p.SignIn(ctx, c.Request.URL.Query())
		if err != nil {
			h.pageFail(c, err)
			return
		}
		h.startSession(c, acct, "/c/"+comm.Slug)
		return
	}
	acct := currentAccount(c)
	if acct == nil {
		h.pageFail(c, fmt.Errorf("sign in first: %w", models.ErrUnauthorized))
		return
	}
	comm, err := h.store.CommunityBySlug(ctx, slug)
	if err != nil {
		h.pageFail(c, err)
		return
	}
	m, err := h.store.MemberByAccount(ctx, comm.ID, acct.ID)
	if err != nil {
		h.pageFail(c, fmt.Errorf("community: %w", models.ErrNotFound))
		return
	}
	done := "linked"
	switch purpose {
	case engine.PurposeConnect:
		done, err = h.connect(ctx, p, comm, m, c.Request.URL.Query())
	case engine.PurposeLink:
		err = p.Link(ctx, comm, m, c.Request.URL.Query())
	default:
		err = errBadRequest
	}
	if err != nil {
		h.pageFail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/c/"+comm.Slug+"/platforms/"+p.Name()+"?done="+done)
}

// platformConnectForm connects a platform whose credentials are typed in: they are checked
// with the platform before anything is stored or proposed.
func (h *Handler) platformConnectForm(c *gin.Context) {
	p, err := h.connector(c)
	if err == nil && p.Info().Connect != engine.ConnectForm {
		err = fmt.Errorf("%s is connected from its own consent page: %w", p.Info().Label, models.ErrNotFound)
	}
	if err != nil {
		h.pageFail(c, err)
		return
	}
	if err := c.Request.ParseForm(); err != nil {
		h.pageFail(c, bodyError(err))
		return
	}
	comm, m := currentCommunity(c), currentMember(c)
	done, err := h.connect(c.Request.Context(), p, comm, m, c.Request.PostForm)
	if errors.Is(err, models.ErrInvalid) {
		values := map[string]string{} // typed values come back, secrets never do
		for _, f := range p.Info().Fields {
			if !f.Secret {
				values[f.Name] = c.Request.PostForm.Get(f.Name)
			}
		}
		h.renderPlatform(c, p, http.StatusUnprocessableEntity, gin.H{"Errors": models.FieldErrors(err), "Values": values, "Error": err.Error()})
		return
	}
	if err != nil {
		h.pageFail(c, err)
		return
	}
	redirect(c, "/c/"+comm.Slug+"/platforms/"+p.Name()+"?done="+done)
}

// connect stores the connection and, for a new one, proposes connecting it: the community's
// constitution policies decide, and it is governed once they approve (engine.TypeConnect).
func (h *Handler) connect(ctx context.Context, p Connector, comm *models.Community, m *models.Member, in url.Values) (string, error) {
	conn, err := p.Connect(ctx, comm, m, in)
	if err != nil {
		return "", err
	}
	if conn.Status != models.ConnectionAwaiting {
		return "renewed", nil
	}
	res, err := h.engine.Submit(ctx, engine.Submission{CommunityID: comm.ID, Type: engine.TypeConnect, InitiatorID: m.ID,
		Params: map[string]any{"platform": p.Name()}, Origin: models.OriginWeb})
	if err != nil {
		return "", err
	}
	if res.Action.Status == models.StatusExecuted {
		return "approved", nil
	}
	return "proposed", nil
}
