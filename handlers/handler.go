// Package handlers is the web layer: thin Gin handlers that bind a request, call the models
// or the engine, and render a page, an htmx fragment or JSON. Every route is listed in
// routes.go; every error→status decision is in errors.go.
package handlers

import (
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"policykit/engine"
	"policykit/models"
)

// Config is what the web layer needs to know about its deployment.
type Config struct {
	BaseURL       string // public URL, for invite links and OAuth callbacks
	SecureCookies bool   // set cookies Secure (the site is served over TLS)
	Version       string
	// TrustedProxies are the addresses (or CIDR ranges) of reverse proxies whose
	// X-Forwarded-For names the client; from anyone else the header is ignored, so a client
	// cannot choose the address that sign-in throttling counts against.
	TrustedProxies []string
}

// Handler serves every page and API route.
type Handler struct {
	engine   *engine.Engine
	runtime  *engine.Runtime // nil in tests that do not run the loops
	store    *models.Store
	log      *slog.Logger
	cfg      Config
	tmpl     *renderer
	static   fs.FS
	metrics  *httpMetrics
	gatherer prometheus.Gatherer
	// Connected platforms (UsePlatforms): nil and empty when none is configured.
	slack    SlackConnector
	webhooks []Webhook
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// Deps are the parts a Handler is built from.
type Deps struct {
	Engine    *engine.Engine
	Runtime   *engine.Runtime
	Store     *models.Store
	Log       *slog.Logger
	Templates fs.FS
	Static    fs.FS
	Registry  *prometheus.Registry
}

// New builds the handler, parsing every template up front so a broken template fails at start.
func New(cfg Config, d Deps) (*Handler, error) {
	tmpl, err := newRenderer(d.Templates)
	if err != nil {
		return nil, err
	}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "policykit_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "policykit_http_request_seconds", Help: "HTTP request latency by method and route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route"}),
	}
	if err := registerAll(d.Registry, m.requests, m.latency); err != nil {
		return nil, err
	}
	return &Handler{engine: d.Engine, runtime: d.Runtime, store: d.Store, log: d.Log, cfg: cfg, tmpl: tmpl, static: d.Static, metrics: m, gatherer: d.Registry}, nil
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metric: %w", err)
		}
	}
	return nil
}
