// Command policykit runs the PolicyKit server and its administration commands.
//
//	policykit [serve]                                  run the web server (the default)
//	policykit migrate                                  apply database migrations and exit
//	policykit user create --email E --name N --password-stdin [--admin]
//	policykit user admin --email E [--revoke]          grant (or revoke) instance administration
//	policykit token create --email E [--name N]        print a personal API token
//	policykit healthcheck                              exit 0 if the local server answers /healthz
//
// Configuration comes from environment variables; see README.md.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"policykit/engine"
	"policykit/handlers"
	"policykit/integrations/slack"
	"policykit/models"
	"policykit/static"
	"policykit/templates"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "policykit:", err)
		os.Exit(1)
	}
}

// config is every setting, read from the environment.
type config struct {
	Addr        string
	DatabaseURL string
	DataDir     string
	SecretKey   []byte
	BaseURL     string
	LogFormat   string
	LogLevel    slog.Level
	// CheckInterval is how often pending proposals are re-checked (POLICYKIT_CHECK_INTERVAL).
	CheckInterval time.Duration
	// Slack is the Slack app (SLACK_*); Slack is off unless its three secrets are set.
	Slack slack.Config
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed
	// (POLICYKIT_TRUSTED_PROXIES, comma-separated addresses or CIDR ranges).
	TrustedProxies []string
}

func loadConfig(getenv func(string) string, log *slog.Logger) (config, error) {
	cfg := config{
		Addr:        envOr(getenv, "POLICYKIT_ADDR", ":8080"),
		DataDir:     envOr(getenv, "POLICYKIT_DATA_DIR", "data"),
		DatabaseURL: getenv("DATABASE_URL"),
		BaseURL:     strings.TrimRight(getenv("POLICYKIT_BASE_URL"), "/"),
	}
	if v := getenv("POLICYKIT_CHECK_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond {
			return cfg, fmt.Errorf("POLICYKIT_CHECK_INTERVAL=%q: want a duration of at least 100ms, like 5s", v)
		}
		cfg.CheckInterval = d
	}
	for _, p := range strings.Split(getenv("POLICYKIT_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				return cfg, fmt.Errorf("POLICYKIT_TRUSTED_PROXIES: %q is neither an address nor a CIDR range", p)
			}
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p)
	}
	cfg.Slack = slack.Config{ClientID: getenv("SLACK_CLIENT_ID"), ClientSecret: getenv("SLACK_CLIENT_SECRET"),
		SigningSecret: getenv("SLACK_SIGNING_SECRET"), APIURL: getenv("SLACK_API_URL")}
	if set := cfg.Slack.ClientID != "" || cfg.Slack.ClientSecret != "" || cfg.Slack.SigningSecret != ""; set && !cfg.Slack.Configured() {
		return cfg, errors.New("set SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET together (or none, to run without Slack)")
	}
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = filepath.Join(cfg.DataDir, "policykit.db")
	}
	if cfg.BaseURL == "" {
		host := cfg.Addr
		if strings.HasPrefix(host, ":") {
			host = "localhost" + host
		}
		cfg.BaseURL = "http://" + host
	}
	key, err := secretKey(getenv("POLICYKIT_SECRET_KEY"), cfg.DataDir, log)
	if err != nil {
		return cfg, err
	}
	cfg.SecretKey = key
	return cfg, nil
}

// secretKey returns the configured key, or the one kept in the data folder, creating it on
// first start.
func secretKey(configured, dataDir string, log *slog.Logger) ([]byte, error) {
	if configured != "" {
		if len(configured) < 32 {
			return nil, errors.New("POLICYKIT_SECRET_KEY must be at least 32 characters")
		}
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	key := hex.EncodeToString(raw)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	log.Warn("POLICYKIT_SECRET_KEY is not set: generated a secret key and saved it; keep this file, it decrypts stored platform credentials", "path", path)
	return []byte(key), nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func newLogger(getenv func(string) string, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(envOr(getenv, "POLICYKIT_LOG_LEVEL", "info")))
	opts := &slog.HandlerOptions{Level: level}
	if getenv("POLICYKIT_LOG_FORMAT") == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// run is the whole program, separated from main so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	log := newLogger(getenv, stderr)
	cfg, err := loadConfig(getenv, log)
	if err != nil {
		return err
	}
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log)
	case "migrate":
		store, err := openStore(ctx, cfg, log)
		if err != nil {
			return err
		}
		return store.Close()
	case "user":
		return userCommand(ctx, cfg, log, args, stdin, stdout)
	case "token":
		return tokenCommand(ctx, cfg, log, args, stdout)
	case "healthcheck":
		return healthcheck(ctx, cfg)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: policykit [serve | migrate | user create ... | user admin ... | token create ...]")
		return nil
	default:
		return fmt.Errorf("unknown command %q (try: serve, migrate, user create, user admin, token create)", cmd)
	}
}

// openStore connects and applies pending migrations.
func openStore(ctx context.Context, cfg config, log *slog.Logger) (*models.Store, error) {
	store, err := models.Open(ctx, cfg.DatabaseURL, cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	applied, err := store.Migrate(ctx)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied, "dialect", store.Dialect())
	}
	return store, nil
}

func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var platforms []engine.Platform
	var slackApp *slack.Slack
	if cfg.Slack.Configured() {
		cfg.Slack.BaseURL, cfg.Slack.Log = cfg.BaseURL, log
		slackApp = slack.New(store, cfg.Slack)
		platforms = append(platforms, slackApp)
	}
	eng, err := engine.New(store, engine.Options{Log: log, Platforms: platforms})
	if err != nil {
		return err
	}
	rt, err := engine.NewRuntime(eng, engine.RuntimeOptions{CheckInterval: cfg.CheckInterval, Registry: reg})
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	h, err := handlers.New(handlers.Config{
		BaseURL:        cfg.BaseURL,
		SecureCookies:  strings.HasPrefix(cfg.BaseURL, "https://"),
		Version:        version,
		TrustedProxies: cfg.TrustedProxies,
	}, handlers.Deps{Engine: eng, Runtime: rt, Store: store, Log: log, Templates: templates.FS, Static: static.FS, Registry: reg})
	if err != nil {
		return err
	}
	var slackInbound *slack.Inbound
	if slackApp != nil {
		slackInbound = slack.NewInbound(slackApp, eng, slack.InboundOptions{})
		h.UsePlatforms(slackApp,
			handlers.Webhook{Method: http.MethodPost, Path: slack.EventsPath, Handler: http.HandlerFunc(slackInbound.ServeEvents)},
			handlers.Webhook{Method: http.MethodPost, Path: slack.InteractionsPath, Handler: http.HandlerFunc(slackInbound.ServeInteractions)})
		slackInbound.Start(ctx)
	}
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           h.Router(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if err := rt.Start(ctx); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		log.Info("PolicyKit is listening", "addr", cfg.Addr, "url", cfg.BaseURL, "database", store.Dialect(), "version", version)
		errc <- srv.ListenAndServe()
	}()
	select {
	case err := <-errc:
		_ = rt.Stop(context.Background())
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests and deliveries in flight")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if slackInbound != nil { // after the server: no request can enqueue work any more
		if err := slackInbound.Stop(shutdownCtx); err != nil {
			log.Warn("slack inbound", "err", err)
		}
	}
	if err := rt.Stop(shutdownCtx); err != nil {
		return fmt.Errorf("stop runtime: %w", err)
	}
	return nil
}

func userCommand(ctx context.Context, cfg config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	const usage = "usage: policykit user create --email E --name N --password-stdin [--admin]\n" +
		"       policykit user admin --email E [--revoke]"
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "create":
		return userCreate(ctx, cfg, log, args[1:], stdin, stdout)
	case "admin":
		return userAdmin(ctx, cfg, log, args[1:], stdout)
	}
	return errors.New(usage)
}

func userCreate(ctx context.Context, cfg config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	email := fs.String("email", "", "email address (the login)")
	name := fs.String("name", "", "display name")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	admin := fs.Bool("admin", false, "make the account an instance administrator (server-wide pages such as /admin/runtime)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*fromStdin {
		return errors.New("pass --password-stdin and the password on standard input (never as an argument)")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	acct, err := store.CreateAccount(ctx, models.NewAccount{Email: *email, Name: *name, Password: strings.TrimRight(line, "\r\n"), Admin: *admin})
	if err != nil {
		return err
	}
	role := "account"
	if acct.IsAdmin {
		role = "administrator account"
	}
	fmt.Fprintf(stdout, "created %s %d <%s>\n", role, acct.ID, acct.Email)
	return nil
}

// userAdmin grants or revokes instance administration for an existing account.
func userAdmin(ctx context.Context, cfg config, log *slog.Logger, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("user admin", flag.ContinueOnError)
	email := fs.String("email", "", "the account's email")
	revoke := fs.Bool("revoke", false, "take instance administration away instead of granting it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	acct, err := store.SetAdmin(ctx, *email, !*revoke)
	if err != nil {
		return err
	}
	if acct.IsAdmin {
		fmt.Fprintf(stdout, "<%s> is now an instance administrator\n", acct.Email)
	} else {
		fmt.Fprintf(stdout, "<%s> is no longer an instance administrator\n", acct.Email)
	}
	return nil
}

func tokenCommand(ctx context.Context, cfg config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: policykit token create --email E [--name N]")
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	email := fs.String("email", "", "account email")
	name := fs.String("name", "command line", "a name to recognise the token by")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	acct, err := store.AccountByEmail(ctx, *email)
	if err != nil {
		return err
	}
	_, clear, err := store.CreateAPIToken(ctx, acct.ID, *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, clear)
	return nil
}

// healthcheck lets a container runtime probe the server without curl in the image.
func healthcheck(ctx context.Context, cfg config) error {
	host := cfg.Addr
	if strings.HasPrefix(host, ":") {
		host = "127.0.0.1" + host
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %d", resp.StatusCode)
	}
	return nil
}
