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
	r.Use(h.recoverPanics, h.logRequests, limitBody)
	r.HandleMethodNotAllowed = true

	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(h.gatherer, promhttp.HandlerOpts{})))
	dist, _ := fs.Sub(h.static, "dist")
	r.StaticFS("/static", http.FS(dist))
	h.mountWebhooks(r) // platform webhooks: verified by signature, no session or CSRF

	// JSON API: bearer tokens, no cookies, so no CSRF.
	api := r.Group("/api/v1", h.bearerAuth)
	api.GET("/me", h.apiMe)
	inCommunity := api.Group("/communities/:slug", h.requireMember(h.apiFail))
	inCommunity.GET("/members", h.apiMembers)
	inCommunity.GET("/documents", h.apiDocuments)

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
	signedIn.GET("/admin/runtime", h.runtimeStatus)

	c := signedIn.Group("/c/:slug", h.requireMember(h.pageFail))
	c.GET("", h.communityHome)
	c.GET("/members", h.members)
	c.POST("/invites", h.createInvite)
	c.GET("/documents", h.documents)
	c.POST("/documents", h.createDocument)
	c.GET("/documents/:id", h.document)
	c.POST("/documents/:id", h.updateDocument)

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
