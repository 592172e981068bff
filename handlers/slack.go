package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"policykit/engine"
	"policykit/models"
)

// SlackConnector is what the Slack pages need from the Slack integration. main.go passes
// integrations/slack; handlers never import integrations.
type SlackConnector interface {
	// AuthorizeURL is Slack's consent page for a purpose ("install", "signin", "link").
	AuthorizeURL(purpose, state string) string
	Install(ctx context.Context, c *models.Community, installer *models.Member, code string) (*models.PlatformConnection, error)
	FinishConnections(ctx context.Context) error
	SignIn(ctx context.Context, code string) (*models.Account, *models.Community, error)
	Link(ctx context.Context, c *models.Community, m *models.Member, code string) error
}

// Webhook is an inbound platform endpoint. It is mounted outside sessions and CSRF: the
// platform's signature on the raw body authenticates it instead.
type Webhook struct {
	Method  string
	Path    string
	Handler http.Handler
}

// OAuth purposes, as the Slack integration names them.
const (
	slackInstall = "install"
	slackSignIn  = "signin"
	slackLink    = "link"
)

// slackStateCookie carries "purpose:slug:nonce" through Slack's consent page; the nonce is
// the OAuth state, so a callback that this browser did not start is refused.
const slackStateCookie = "pk_slack_oauth"

// UsePlatforms connects the platform integrations main.go configured: the Slack pages'
// connector (nil when Slack is not configured) and inbound webhooks. Call before Router.
func (h *Handler) UsePlatforms(slack SlackConnector, webhooks ...Webhook) {
	h.slack, h.webhooks = slack, webhooks
}

func (h *Handler) mountWebhooks(r *gin.Engine) {
	for _, w := range h.webhooks {
		r.Handle(w.Method, w.Path, gin.WrapH(w.Handler))
	}
}

func (h *Handler) platformRoutes(web, c *gin.RouterGroup) {
	web.GET("/signin/slack", h.slackSignIn)
	web.GET("/integrations/slack/oauth", h.slackCallback)
	c.GET("/platforms/slack", h.slackPage)
	c.GET("/platforms/slack/install", h.slackStart(slackInstall))
	c.GET("/platforms/slack/link", h.slackStart(slackLink))
}

// slackPage shows the community's Slack connection and the visitor's link to it.
func (h *Handler) slackPage(c *gin.Context) {
	ctx := c.Request.Context()
	comm, me := currentCommunity(c), currentMember(c)
	data := gin.H{"Configured": h.slack != nil, "Notice": slackNotice(c.Query("done"))}
	conn, err := h.store.ConnectionOf(ctx, comm.ID, "slack")
	switch {
	case err == nil:
		linked, err := h.store.CountIdentities(ctx, comm.ID, "slack")
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
	for _, id := range ids {
		if id.Platform == "slack" {
			data["Mine"] = id
		}
	}
	h.render(c, http.StatusOK, "slack_platform", data)
}

// connectSlack installs the app and, for a new connection, proposes connecting it: the
// community's constitution policies decide, and the workspace is governed once they approve.
func (h *Handler) connectSlack(ctx context.Context, comm *models.Community, m *models.Member, code string) (string, error) {
	conn, err := h.slack.Install(ctx, comm, m, code)
	if err != nil || conn.Status != models.ConnectionAwaiting {
		return "connected", err
	}
	if _, err := h.engine.Submit(ctx, engine.Submission{CommunityID: comm.ID, Type: engine.TypeConnect, InitiatorID: m.ID,
		Params: map[string]any{"platform": "slack"}, Origin: models.OriginWeb}); err != nil {
		return "", err
	}
	if err := h.slack.FinishConnections(ctx); err != nil { // approved at once
		return "", err
	}
	if now, err := h.store.ConnectionOf(ctx, comm.ID, "slack"); err == nil && now.Status == models.ConnectionConnected {
		return "connected", nil
	}
	return "proposed", nil
}

// slackNotice is the confirmation shown after a round trip to Slack.
func slackNotice(done string) string {
	switch done {
	case "connected":
		return "Slack is connected. The workspace's people are now members."
	case "linked":
		return "Your Slack account is linked."
	case "proposed":
		return "Slack is installed. Connecting it is now a proposal: the workspace is governed once the community approves it."
	}
	return ""
}

// slackStart sends a member to Slack's consent page to install the app or link an account.
func (h *Handler) slackStart(purpose string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if h.slack == nil {
			h.pageFail(c, fmt.Errorf("slack is not configured on this server: %w", models.ErrNotFound))
			return
		}
		h.redirectToSlack(c, purpose, currentCommunity(c).Slug)
	}
}

func (h *Handler) slackSignIn(c *gin.Context) {
	if h.slack == nil {
		h.pageFail(c, fmt.Errorf("slack is not configured on this server: %w", models.ErrNotFound))
		return
	}
	h.redirectToSlack(c, slackSignIn, "")
}

func (h *Handler) redirectToSlack(c *gin.Context, purpose, slug string) {
	nonce := models.RandomCode(24)
	h.setCookie(c, slackStateCookie, purpose+":"+slug+":"+nonce, 600)
	c.Redirect(http.StatusSeeOther, h.slack.AuthorizeURL(purpose, nonce))
}

// slackCallback is where Slack sends the browser back. The state must match the cookie this
// browser got when it left; the cookie says what the round trip was for.
func (h *Handler) slackCallback(c *gin.Context) {
	if h.slack == nil {
		h.pageFail(c, models.ErrNotFound)
		return
	}
	cookie, _ := c.Cookie(slackStateCookie)
	h.setCookie(c, slackStateCookie, "", -1)
	parts := strings.SplitN(cookie, ":", 3)
	if len(parts) != 3 || subtle.ConstantTimeCompare([]byte(parts[2]), []byte(c.Query("state"))) != 1 || parts[2] == "" {
		h.pageFail(c, fmt.Errorf("this Slack sign-in did not start here or has expired; please start again: %w", errBadRequest))
		return
	}
	purpose, slug := parts[0], parts[1]
	if e := c.Query("error"); e != "" {
		h.pageFail(c, models.Invalid("slack", "Slack did not authorize PolicyKit ("+e+")"))
		return
	}
	ctx := c.Request.Context()
	if purpose == slackSignIn {
		acct, comm, err := h.slack.SignIn(ctx, c.Query("code"))
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
	case slackInstall:
		done, err = h.connectSlack(ctx, comm, m, c.Query("code"))
	case slackLink:
		err = h.slack.Link(ctx, comm, m, c.Query("code"))
	default:
		err = errBadRequest
	}
	if err != nil {
		h.pageFail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/c/"+comm.Slug+"/platforms/slack?done="+done)
}
