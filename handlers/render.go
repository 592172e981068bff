package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"policykit/models"
)

// renderer holds one parsed template set per page: the layout and every partial, cloned and
// joined with the page's own file, so each page may define "content" without clashing.
type renderer struct {
	pages    map[string]*template.Template
	partials *template.Template
}

func newRenderer(files fs.FS) (*renderer, error) {
	funcs := template.FuncMap{
		// storedHTML shows HTML that models.RenderMarkdown rendered and sanitised when the
		// text was stored (document versions); nothing else may pass through it.
		"storedHTML": func(s string) template.HTML { return template.HTML(s) }, //nolint:gosec // sanitised when stored
		"ago":        ago,
		"when":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"json": func(v any) string {
			b, _ := json.MarshalIndent(v, "", "  ")
			return string(b)
		},
		"join": strings.Join,
		"dict": func(kv ...any) map[string]any {
			m := make(map[string]any, len(kv)/2)
			for i := 0; i+1 < len(kv); i += 2 {
				m[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return m
		},
		"fieldError": func(errs any, field string) string {
			m, _ := errs.(map[string]string)
			return m[field]
		},
		"derefInt": func(p *int64) int64 { return *p },
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"list":     func(xs ...string) []string { return xs },
		"inc":      func(i int) int { return i + 1 },
		"capitalize": func(s string) string {
			if s == "" {
				return s
			}
			return strings.ToUpper(s[:1]) + s[1:]
		},
		"ballotOptions": ballotOptions,
		"voted":         voted,
		"rankAt": func(v *myVote, i int) string {
			if v == nil {
				return ""
			}
			if l := listOf(v.Value); i < len(l) {
				return l[i]
			}
			return ""
		},
		"scoreOf": func(v *myVote, option string) string {
			if v == nil {
				return ""
			}
			m, _ := v.Value.(map[string]any)
			return display(m[option])
		},
	}
	base, err := template.New("").Funcs(funcs).ParseFS(files, "layouts/*.html", "partials/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse layouts and partials: %w", err)
	}
	pageFiles, err := fs.Glob(files, "pages/*.html")
	if err != nil {
		return nil, err
	}
	r := &renderer{pages: make(map[string]*template.Template, len(pageFiles)), partials: base}
	for _, f := range pageFiles {
		t, err := template.Must(base.Clone()).ParseFS(files, f)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		r.pages[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return r, nil
}

// ago prints a duration since t in words a reader skims ("5 minutes ago").
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	default:
		return plural(int(d.Hours()/24), "day") + " ago"
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// render writes a full page, or only the named fragment when htmx asks for a partial
// (HX-Request without HX-Boosted) and the handler called renderFragment instead.
func (h *Handler) render(c *gin.Context, status int, page string, data gin.H) {
	t, ok := h.tmpl.pages[page]
	if !ok {
		h.log.Error("unknown page template", "page", page)
		c.String(http.StatusInternalServerError, "unknown page")
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base", h.pageData(c, data)); err != nil {
		h.log.Error("render page", "page", page, "err", err)
		c.String(http.StatusInternalServerError, "render failed")
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// renderFragment writes one partial template alone, for htmx swaps.
func (h *Handler) renderFragment(c *gin.Context, status int, name string, data gin.H) {
	var buf bytes.Buffer
	if err := h.tmpl.partials.ExecuteTemplate(&buf, name, h.pageData(c, data)); err != nil {
		h.log.Error("render fragment", "fragment", name, "err", err)
		c.String(http.StatusInternalServerError, "render failed")
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// pageData adds what every page sees to a page's own values: the signed-in account (Me),
// the CSRF token, the style nonce of the Content-Security-Policy, the community and membership in view (if any) and the request path.
func (h *Handler) pageData(c *gin.Context, data gin.H) gin.H {
	if data == nil {
		data = gin.H{}
	}
	data["Me"] = currentAccount(c)
	data["CSRF"] = csrfToken(c)
	data["CSPNonce"] = cspNonce(c)
	data["Community"] = currentCommunity(c)
	data["Member"] = currentMember(c)
	data["Path"] = c.Request.URL.Path
	return data
}

// isHTMX tells an htmx partial request from a full page load.
func isHTMX(c *gin.Context) bool {
	return c.GetHeader("HX-Request") == "true" && c.GetHeader("HX-Boosted") != "true"
}

// redirect sends the browser elsewhere after a successful form: HX-Redirect for htmx,
// 303 See Other for plain forms.
func redirect(c *gin.Context, to string) {
	if isHTMX(c) {
		c.Header("HX-Redirect", to)
		c.Status(http.StatusNoContent)
		return
	}
	c.Redirect(http.StatusSeeOther, to)
}

// idParam reads a numeric id from the path; anything else is not found.
func idParam(c *gin.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%s %q: %w", name, c.Param(name), models.ErrNotFound)
	}
	return id, nil
}

// voted tells whether a member's vote chose option (a single value or one in a list).
func voted(v *myVote, option string) bool {
	if v == nil {
		return false
	}
	if s, ok := v.Value.(string); ok {
		return s == option
	}
	for _, x := range listOf(v.Value) {
		if x == option {
			return true
		}
	}
	return false
}
