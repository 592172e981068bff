package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"policykit/models"
	"policykit/models/modelstest"
)

// TestCLIBootstrapsAnInstance does what a self-hoster does: create a user and a token from
// the command line, start the server, and call the API with the token.
func TestCLIBootstrapsAnInstance(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{
		"DATABASE_URL":         modelstest.DSN(t),
		"POLICYKIT_DATA_DIR":   t.TempDir(),
		"POLICYKIT_ADDR":       addr,
		"POLICYKIT_SECRET_KEY": strings.Repeat("k", 32),
		"POLICYKIT_LOG_LEVEL":  "warn",
	}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	var out, logs bytes.Buffer

	if err := run(ctx, []string{"user", "create", "--email", "Root@Example.org", "--name", "Root", "--password-stdin"},
		getenv, strings.NewReader("a long password\n"), &out, &logs); err != nil {
		t.Fatalf("user create: %v\n%s", err, logs.String())
	}
	out.Reset()
	if err := run(ctx, []string{"token", "create", "--email", "root@example.org"}, getenv, nil, &out, &logs); err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(out.String())
	if !strings.HasPrefix(token, "pk_") {
		t.Fatalf("token = %q", token)
	}
	if err := run(ctx, []string{"user", "create", "--email", "x@example.org", "--name", "X"}, getenv, nil, &out, &logs); err == nil {
		t.Error("user create without --password-stdin succeeded")
	}
	if err := run(ctx, []string{"frobnicate"}, getenv, nil, &out, &logs); err == nil {
		t.Error("unknown command succeeded")
	}

	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(serveCtx, nil, getenv, nil, &out, &logs) }()
	var me struct{ Email string }
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/api/v1/me", addr), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&me)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/api/v1/me: %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if me.Email != "root@example.org" {
		t.Fatalf("me = %+v", me)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after shutdown", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("graceful shutdown hung")
	}
}

// TestServeWiresSlack: with the three Slack secrets set, the server mounts Slack's signed
// endpoints and offers "Sign in with Slack"; with only some of them it refuses to start.
func TestServeWiresSlack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{
		"DATABASE_URL": modelstest.DSN(t), "POLICYKIT_DATA_DIR": t.TempDir(), "POLICYKIT_ADDR": addr,
		"POLICYKIT_SECRET_KEY": strings.Repeat("k", 32), "POLICYKIT_LOG_LEVEL": "warn",
		"SLACK_CLIENT_ID": "1.2", "SLACK_SIGNING_SECRET": "s",
	}
	getenv := func(k string) string { return env[k] }
	var out, logs bytes.Buffer
	if err := run(context.Background(), []string{"migrate"}, getenv, nil, &out, &logs); err == nil || !strings.Contains(err.Error(), "SLACK_CLIENT_SECRET") {
		t.Fatalf("a partial Slack configuration was accepted: %v", err)
	}
	env["SLACK_CLIENT_SECRET"] = "c"
	serveCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(serveCtx, nil, getenv, nil, &out, &logs) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Post(fmt.Sprintf("http://%s/integrations/slack/events", addr), "application/json", strings.NewReader(`{"type":"url_verification","challenge":"x"}`))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("an unsigned Slack request got %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/signin", addr))
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	_, _ = page.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(page.String(), "/signin/slack") {
		t.Fatal("the sign-in page does not offer Sign in with Slack")
	}
}

// TestGeneratedSecretKeyIsPrivate: on first start the data folder is created 0700 and the
// generated secret key 0600, so other users of the machine cannot read either.
func TestGeneratedSecretKeyIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"POLICYKIT_DATA_DIR": dir}
	if _, err := loadConfig(func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "secret.key"): 0o600} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s has mode %o, want %o", path, got, want)
		}
	}
}

// TestCLIInstanceAdmins: `user create --admin` makes an administrator, `user admin` grants
// it to an existing account and `--revoke` takes it away; the website can do neither.
func TestCLIInstanceAdmins(t *testing.T) {
	dsn := modelstest.DSN(t)
	env := map[string]string{"DATABASE_URL": dsn, "POLICYKIT_DATA_DIR": t.TempDir(),
		"POLICYKIT_SECRET_KEY": strings.Repeat("k", 32), "POLICYKIT_LOG_LEVEL": "warn"}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	var out, logs bytes.Buffer
	cli := func(stdin string, args ...string) error {
		out.Reset()
		return run(ctx, args, getenv, strings.NewReader(stdin), &out, &logs)
	}
	if err := cli("a long password\n", "user", "create", "--email", "root@example.org", "--name", "Root", "--password-stdin", "--admin"); err != nil {
		t.Fatalf("user create --admin: %v\n%s", err, logs.String())
	}
	if !strings.Contains(out.String(), "administrator") {
		t.Errorf("user create --admin said %q", out.String())
	}
	if err := cli("another long password\n", "user", "create", "--email", "ops@example.org", "--name", "Ops", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	isAdmin := func(email string) bool {
		t.Helper()
		store, err := models.Open(ctx, dsn, []byte(env["POLICYKIT_SECRET_KEY"]))
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		a, err := store.AccountByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		return a.IsAdmin
	}
	if !isAdmin("root@example.org") || isAdmin("ops@example.org") {
		t.Fatal("after create: want root an administrator and ops not")
	}
	if err := cli("", "user", "admin", "--email", "OPS@example.org"); err != nil || !isAdmin("ops@example.org") {
		t.Fatalf("user admin: %v, admin=%v", err, isAdmin("ops@example.org"))
	}
	if err := cli("", "user", "admin", "--email", "root@example.org", "--revoke"); err != nil || isAdmin("root@example.org") {
		t.Fatalf("user admin --revoke: %v, admin=%v", err, isAdmin("root@example.org"))
	}
	if err := cli("", "user", "admin", "--email", "nobody@example.org"); err == nil {
		t.Error("user admin for an unknown email succeeded")
	}
}
