package handlers

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"policykit/models"
)

// Context keys for values the middleware resolves once per request.
const (
	keyAccount   = "pk.account"
	keyCommunity = "pk.community"
	keyMember    = "pk.member"
	keyCSRF      = "pk.csrf"
	keyNonce     = "pk.nonce"
)

const (
	sessionCookie = "pk_session"
	csrfCookie    = "pk_csrf"
	// deviceCookie marks a browser that has signed in to an account before (sign-in
	// throttling treats it apart); it outlives sign-out.
	deviceCookie         = "pk_device"
	deviceCookieLifetime = 365 * 24 * time.Hour
	csrfHeader           = "X-CSRF-Token"
	csrfField            = "csrf_token"
	// maxBodyBytes bounds every request body; webhooks and forms are far smaller.
	maxBodyBytes = 1 << 20
)

// logRequests writes one structured line per request.
func (h *Handler) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	elapsed := time.Since(start)
	h.metrics.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
	h.metrics.latency.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	h.log.LogAttrs(c.Request.Context(), level, "request",
		slog.String("method", c.Request.Method), slog.String("path", redactedURL(c)),
		slog.Int("status", status), slog.Duration("duration", elapsed))
}

// redactedURL is the request's path and query as the logs may show them: a credential in
// the address (an invite code, an unsubscribe or API token, an OAuth code or state) would
// otherwise sit in every log collector. The one rule: a path parameter or query value whose
// name is secretName is replaced by [redacted]; on a path no route matched, so whose
// parameters are unknown, every segment that looks like a token (16 or more letters,
// digits, '-' or '_') is.
func redactedURL(c *gin.Context) string {
	const redacted = "[redacted]"
	var path string
	if route := c.FullPath(); route != "" {
		segs := strings.Split(route, "/")
		for i, seg := range segs {
			if name, ok := strings.CutPrefix(seg, ":"); ok {
				segs[i] = c.Param(name)
				if secretName(name) {
					segs[i] = redacted
				}
			} else if name, ok := strings.CutPrefix(seg, "*"); ok {
				segs[i] = strings.TrimPrefix(c.Param(name), "/")
			}
		}
		path = strings.Join(segs, "/")
	} else {
		segs := strings.Split(c.Request.URL.Path, "/")
		for i, seg := range segs {
			if tokenLike(seg) {
				segs[i] = redacted
			}
		}
		path = strings.Join(segs, "/")
	}
	q := c.Request.URL.Query()
	if len(q) == 0 {
		return path
	}
	for k, vs := range q {
		if secretName(k) {
			for i := range vs {
				vs[i] = redacted
			}
		}
	}
	return path + "?" + q.Encode()
}

// secretName tells whether a path parameter or query key carries a credential.
func secretName(name string) bool {
	switch strings.ToLower(name) {
	case "code", "token", "state", "key", "secret", "signature", "sig", "password", "access_token", "id_token":
		return true
	}
	return false
}

func tokenLike(seg string) bool {
	if len(seg) < 16 {
		return false
	}
	for _, r := range seg {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// recoverPanics turns a panic in a handler into a logged 500 instead of a dropped connection.
func (h *Handler) recoverPanics(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(r) // the client went away; let net/http handle it
			}
			h.log.Error("panic", slog.Any("panic", r), slog.String("path", redactedURL(c)), slog.String("stack", string(debug.Stack())))
			if strings.HasPrefix(c.Request.URL.Path, "/api/") {
				h.apiFail(c, fmt.Errorf("panic: %v", r))
				return
			}
			c.AbortWithStatus(http.StatusInternalServerError)
		}
	}()
	c.Next()
}

// limitBody caps request bodies; reading past the cap fails, which handlers report as 413.
func limitBody(c *gin.Context) {
	if c.Request.ContentLength > maxBodyBytes {
		if strings.HasPrefix(c.Request.URL.Path, "/api/") {
			c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, gin.H{"error": apiError{Code: "too_large", Message: errTooLarge.Error()}})
		} else {
			c.AbortWithStatus(http.StatusRequestEntityTooLarge)
		}
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes)
	c.Next()
}

// securityHeaders sends, on every answer, a Content-Security-Policy that the pages satisfy
// and the frame, sniffing and referrer headers.
//
// Scripts come only from /static (no inline script, no event-handler attribute, no eval:
// htmx runs with allowEval off). Styles come from /static plus <style> elements that carry
// this response's nonce: CodeMirror's code view injects its theme as <style> elements (its
// style-mod library uses constructable sheets only inside shadow roots) and is given the
// nonce (static/src/editor.js reads <meta name="csp-nonce">), so no injected markup can add
// styles ('unsafe-inline' is not needed). Images may be any https: address, because
// community documents may show pictures; data: is for Pico's built-in icons. Nothing may
// frame a page (clickjacking a vote), and the Referer header never leaves the site, since
// some addresses carry an invite code.
func (h *Handler) securityHeaders(c *gin.Context) {
	nonce := models.RandomCode(22)
	c.Set(keyNonce, nonce)
	hd := c.Writer.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'nonce-"+nonce+"'; "+
		"img-src 'self' data: https:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "+
		"base-uri 'none'; object-src 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	c.Next()
}

// refuseUnreadableURL answers 400 to an address whose path or query holds invalid UTF-8 or
// a control character: no route names such a thing, and PostgreSQL cannot even compare
// with it (a NUL in a slug or a filter failed the whole query with a 500).
func (h *Handler) refuseUnreadableURL(c *gin.Context) {
	bad := models.TextProblem(c.Request.URL.Path)
	for k, vs := range c.Request.URL.Query() {
		for _, v := range append(vs, k) {
			if bad == "" {
				bad = models.TextProblem(v)
			}
		}
	}
	if bad == "" {
		c.Next()
		return
	}
	err := fmt.Errorf("the address %s: %w", bad, errBadRequest)
	if strings.HasPrefix(c.Request.URL.Path, "/api/") {
		h.apiFail(c, err)
		return
	}
	h.pageFail(c, err)
}

// loadSession resolves the session cookie to an account, if any.
func (h *Handler) loadSession(c *gin.Context) {
	if token, err := c.Cookie(sessionCookie); err == nil && token != "" {
		if acct, err := h.store.AccountBySession(c.Request.Context(), token); err == nil {
			c.Set(keyAccount, acct)
		}
	}
	c.Next()
}

// csrf protects every state-changing browser request with a double-submit token: a random
// value in an HttpOnly cookie that each form (field csrf_token) or htmx request (header
// X-CSRF-Token, set on <body hx-headers>) must repeat. A cross-site page can make the
// browser send the cookie but cannot read it to repeat it.
func (h *Handler) csrf(c *gin.Context) {
	token, err := c.Cookie(csrfCookie)
	if err != nil || len(token) < 20 {
		token = models.RandomCode(20)
		h.setCookie(c, csrfCookie, token, 0)
	}
	c.Set(keyCSRF, token)
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.Next()
		return
	}
	sent := c.GetHeader(csrfHeader)
	if sent == "" {
		sent = c.PostForm(csrfField)
	}
	if subtle.ConstantTimeCompare([]byte(sent), []byte(token)) != 1 {
		h.render(c, http.StatusForbidden, "error", gin.H{"Status": http.StatusForbidden,
			"Message": "This form has expired or did not come from this site. Reload the page and try again."})
		c.Abort()
		return
	}
	c.Next()
}

// setCookie writes an HttpOnly, SameSite=Lax cookie, Secure when served over TLS.
func (h *Handler) setCookie(c *gin.Context, name, value string, maxAge int) {
	secure := h.cfg.SecureCookies || c.Request.TLS != nil
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}

// requireAccount sends visitors who are not signed in to the sign-in page.
func (h *Handler) requireAccount(c *gin.Context) {
	if currentAccount(c) == nil {
		c.Redirect(http.StatusSeeOther, "/signin?next="+url.QueryEscape(safeNext(c.Request.URL.RequestURI())))
		c.Abort()
		return
	}
	c.Next()
}

// requireAdmin lets only instance administrators through; to anyone else a server-wide
// page does not exist (404), as it would not for a community they are not in.
func (h *Handler) requireAdmin(c *gin.Context) {
	if acct := currentAccount(c); acct == nil || !acct.IsAdmin {
		h.pageFail(c, fmt.Errorf("page: %w", models.ErrNotFound))
		return
	}
	c.Next()
}

// requireMember loads the community named in the URL and the caller's membership. A
// community the caller does not belong to answers 404, exactly like one that does not exist.
func (h *Handler) requireMember(fail func(*gin.Context, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		acct := currentAccount(c)
		if acct == nil {
			fail(c, fmt.Errorf("sign in first: %w", models.ErrUnauthorized))
			return
		}
		comm, m, err := h.store.Membership(c.Request.Context(), c.Param("slug"), acct.ID)
		if err != nil {
			fail(c, err)
			return
		}
		c.Set(keyCommunity, comm)
		c.Set(keyMember, m)
		c.Next()
	}
}

// bearerAuth authenticates API requests by personal token.
func (h *Handler) bearerAuth(c *gin.Context) {
	header := c.GetHeader("Authorization")
	token, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || token == "" {
		h.apiFail(c, fmt.Errorf("send a personal token as Authorization: Bearer <token>: %w", models.ErrUnauthorized))
		return
	}
	acct, err := h.store.AccountByAPIToken(c.Request.Context(), strings.TrimSpace(token))
	if err != nil {
		h.apiFail(c, err)
		return
	}
	c.Set(keyAccount, acct)
	c.Next()
}

func currentAccount(c *gin.Context) *models.Account {
	v, _ := c.Get(keyAccount)
	a, _ := v.(*models.Account)
	return a
}

func currentCommunity(c *gin.Context) *models.Community {
	v, _ := c.Get(keyCommunity)
	x, _ := v.(*models.Community)
	return x
}

func currentMember(c *gin.Context) *models.Member {
	v, _ := c.Get(keyMember)
	x, _ := v.(*models.Member)
	return x
}

func csrfToken(c *gin.Context) string { return c.GetString(keyCSRF) }

func cspNonce(c *gin.Context) string { return c.GetString(keyNonce) }

// safeNext keeps post-sign-in redirects on this site: it returns next only when it is a
// path on this site, and "/" otherwise. Browsers drop tabs and newlines from a URL and read
// a backslash as a slash, so "/\t/evil.example" or "/\\evil.example" would become
// "//evil.example", another site: any control character or backslash is refused, in next
// and in every percent-decoding of it (a double-encoded form decodes to one).
func safeNext(next string) string {
	const fallback = "/"
	if !strings.HasPrefix(next, "/") || len(next) > 2048 {
		return fallback
	}
	for form, i := next, 0; ; i++ {
		if !sameSitePath(form) || i == 5 { // five layers of encoding are an attack, not a link
			return fallback
		}
		decoded, err := url.PathUnescape(form)
		if err != nil {
			return fallback
		}
		if decoded == form {
			break
		}
		form = decoded
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fallback
	}
	return next
}

// sameSitePath tells whether s reads as a path on this site in every browser: it starts
// with one slash and holds no control character, backslash or invalid UTF-8.
func sameSitePath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
