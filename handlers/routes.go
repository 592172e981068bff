package handlers

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"policykit/models"
)

// Router lists every route of the server.
func (h *Handler) Router() *gin.Engine {
	r := gin.New()
	if err := r.SetTrustedProxies(h.cfg.TrustedProxies); err != nil {
		h.log.Error("POLICYKIT_TRUSTED_PROXIES: trusting no proxy", "err", err)
		_ = r.SetTrustedProxies(nil)
	}
	r.Use(h.recoverPanics, h.logRequests, h.securityHeaders, h.refuseUnreadableURL, limitBody)
	r.HandleMethodNotAllowed = true

	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(h.gatherer, promhttp.HandlerOpts{})))
	dist, _ := fs.Sub(h.static, "dist")
	r.StaticFS("/static", http.FS(dist))
	h.mountWebhooks(r) // platform webhooks: verified by signature, no session or CSRF

	// JSON API: bearer tokens, no cookies, so no CSRF. The document describing it is public.
	r.GET("/api/v1/openapi.json", h.openAPI)
	api := r.Group("/api/v1", h.bearerAuth)
	api.GET("/me", h.apiMe)
	api.GET("/action_types", h.apiActionTypes)
	api.POST("/communities", h.apiCreateCommunity)
	api.POST("/invites/:code/accept", h.apiAcceptInvite)
	inCommunity := api.Group("/communities/:slug", h.requireMember(h.apiFail))
	inCommunity.POST("/invites", h.apiCreateInvite)
	inCommunity.POST("/actions", h.apiPropose)
	inCommunity.GET("/proposals", h.apiProposals)
	inCommunity.GET("/proposals/:id", h.apiProposal)
	inCommunity.POST("/proposals/:id/votes", h.apiVote)
	inCommunity.GET("/policies", h.apiPolicies)
	inCommunity.GET("/roles", h.apiRoles)
	inCommunity.GET("/members", h.apiMembers)
	inCommunity.GET("/documents", h.apiDocuments)
	inCommunity.GET("/audit", h.apiAudit)

	// Pages: session cookie and CSRF on every state change.
	web := r.Group("/", h.loadSession, h.csrf)
	web.GET("/", h.home)
	web.GET("/signup", h.signupForm)
	web.POST("/signup", h.signup)
	web.GET("/signin", h.signinForm)
	web.POST("/signin", h.signin)
	web.POST("/signout", h.signout)
	web.GET("/invite/:code", h.inviteForm)

	signedIn := web.Group("/", h.requireAccount)
	signedIn.GET("/communities/new", h.newCommunityForm)
	signedIn.POST("/communities", h.createCommunity)
	signedIn.POST("/invite/:code", h.acceptInvite)
	signedIn.GET("/admin/runtime", h.requireAdmin, h.runtimeStatus)
	signedIn.GET("/account/tokens", h.tokens)
	signedIn.POST("/account/tokens", h.createToken)
	signedIn.POST("/account/tokens/:id/revoke", h.revokeToken)

	// Governance state changes only through proposals: the pages below read, and the one
	// write besides votes and invites is POST /propose/:type.
	c := signedIn.Group("/c/:slug", h.requireMember(h.pageFail))
	c.GET("", h.dashboard)
	c.GET("/members", h.members)
	c.POST("/invites", h.createInvite)
	c.GET("/proposals", h.proposals)
	c.GET("/proposals/:id", h.proposal)
	c.GET("/proposals/:id/tally", h.proposalTally)
	c.POST("/proposals/:id/votes", h.vote)
	c.GET("/actions/:id", h.actionPage)
	c.GET("/propose", h.proposeIndex)
	c.GET("/propose/:type", h.proposeForm)
	c.POST("/propose/:type", h.propose)
	c.GET("/policies", h.policies)
	c.GET("/policies/:id", h.policy)
	c.GET("/policies/:id/builder", h.builderEdit)
	c.GET("/builder", h.builderNew)
	c.POST("/builder", h.builderPost) // previews, dry-runs and tries write nothing; save proposes
	c.GET("/roles", h.roles)
	c.GET("/documents", h.documents)
	c.GET("/documents/:id", h.document)
	c.GET("/audit", h.audit)
	c.GET("/audit/export", h.auditExport)
	c.POST("/audit/verify", h.auditVerify)

	h.platformRoutes(web, c)
	r.NoRoute(h.notFound)
	r.NoMethod(h.notFound)
	return r
}

func (h *Handler) notFound(c *gin.Context) {
	err := models.ErrNotFound
	if strings.HasPrefix(c.Request.URL.Path, "/api/") {
		h.apiFail(c, err)
		return
	}
	h.loadSession(c)
	h.pageFail(c, err)
}
