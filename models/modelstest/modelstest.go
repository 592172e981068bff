// Package modelstest opens real, empty, migrated databases for tests: a SQLite file by
// default, or a fresh PostgreSQL schema when TEST_DATABASE_URL is set.
package modelstest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"policykit/models"
)

// SecretKey is the credentials key every test store uses.
var SecretKey = []byte("test-secret-key-0123456789abcdef")

// DSN returns a connection string for a fresh, empty database and registers its removal.
// With TEST_DATABASE_URL it creates a new PostgreSQL schema and points search_path at it, so
// tests run in parallel without seeing each other's rows; otherwise a SQLite file in a
// temporary folder.
func DSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		return filepath.Join(tb.TempDir(), "test.db")
	}
	admin, err := models.Open(context.Background(), base, SecretKey)
	if err != nil {
		tb.Fatalf("TEST_DATABASE_URL is set but PostgreSQL is unreachable: %v", err)
	}
	schema := "t_" + models.RandomCode(10)
	if err := admin.DB().Exec("CREATE SCHEMA " + schema).Error; err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if err := admin.DB().Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			tb.Logf("drop schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a migrated store on a fresh database, closed when the test ends.
func Open(tb testing.TB) *models.Store {
	tb.Helper()
	s, err := models.Open(context.Background(), DSN(tb), SecretKey)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return s
}

// Name says which database the tests run on, for log lines.
func Name() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return "postgres"
	}
	return "sqlite"
}

// Account signs up an account through the real sign-up path, with a fixed password.
func Account(tb testing.TB, s *models.Store, name string) *models.Account {
	tb.Helper()
	a, err := s.CreateAccount(context.Background(), models.NewAccount{
		Email:    strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.org",
		Name:     name,
		Password: "correct horse battery",
	})
	if err != nil {
		tb.Fatalf("create account %s: %v", name, err)
	}
	return a
}

// Community creates a community owned by a new account and returns both.
func Community(tb testing.TB, s *models.Store, name string) (*models.Community, *models.Member) {
	tb.Helper()
	owner := Account(tb, s, fmt.Sprintf("%s owner", name))
	c, m, err := s.CreateCommunity(context.Background(), models.NewCommunity{Name: name}, owner)
	if err != nil {
		tb.Fatalf("create community %s: %v", name, err)
	}
	return c, m
}
