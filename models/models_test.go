package models_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"policykit/models"
	"policykit/models/modelstest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s, err := models.Open(ctx, modelstest.DSN(t), modelstest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pending, err := s.PendingMigrations(ctx)
	if err != nil || len(pending) == 0 {
		t.Fatalf("empty database: pending=%v err=%v, want every migration pending", pending, err)
	}
	first, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if len(first) != len(pending) {
		t.Fatalf("applied %v, want %v", first, pending)
	}
	second, err := s.Migrate(ctx)
	if err != nil || len(second) != 0 {
		t.Fatalf("second migrate applied %v (err %v), want nothing", second, err)
	}
	if p, _ := s.PendingMigrations(ctx); len(p) != 0 {
		t.Fatalf("pending after migrate: %v", p)
	}
}

func TestAccounts(t *testing.T) {
	ctx := context.Background()
	s := modelstest.Open(t)
	a, err := s.CreateAccount(ctx, models.NewAccount{Email: " Ada@Example.org ", Name: "Ada", Password: "long enough"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Email != "ada@example.org" {
		t.Errorf("email not normalised: %q", a.Email)
	}
	tests := []struct {
		name  string
		in    models.NewAccount
		field string
	}{
		{"duplicate email", models.NewAccount{Email: "ADA@example.org", Name: "Other", Password: "long enough"}, "email"},
		{"bad email", models.NewAccount{Email: "not-an-email", Name: "X", Password: "long enough"}, "email"},
		{"empty name", models.NewAccount{Email: "b@example.org", Name: "  ", Password: "long enough"}, "name"},
		{"short password", models.NewAccount{Email: "c@example.org", Name: "C", Password: "short"}, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateAccount(ctx, tt.in)
			if !errors.Is(err, models.ErrInvalid) || models.FieldErrors(err)[tt.field] == "" {
				t.Fatalf("err = %v, want a validation error on %q", err, tt.field)
			}
		})
	}
	if _, err := s.Authenticate(ctx, "ada@example.org", "wrong password"); !errors.Is(err, models.ErrUnauthorized) {
		t.Errorf("wrong password: err = %v", err)
	}
	if _, err := s.Authenticate(ctx, "nobody@example.org", "long enough"); !errors.Is(err, models.ErrUnauthorized) {
		t.Errorf("unknown email: err = %v", err)
	}
	got, err := s.Authenticate(ctx, "ADA@example.org", "long enough")
	if err != nil || got.ID != a.ID {
		t.Fatalf("right password: %v %v", got, err)
	}
	tok, err := s.CreateSession(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.AccountBySession(ctx, tok); err != nil || got.ID != a.ID {
		t.Fatalf("session: %v %v", got, err)
	}
	if err := s.DeleteSession(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AccountBySession(ctx, tok); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("deleted session still valid: %v", err)
	}
}

func TestCommunityMembershipAndInvites(t *testing.T) {
	ctx := context.Background()
	s := modelstest.Open(t)
	c, owner := modelstest.Community(t, s, "Garden Club")
	if c.Slug != "garden-club" {
		t.Errorf("slug = %q", c.Slug)
	}
	owner2 := modelstest.Account(t, s, "Second")
	if _, _, err := s.CreateCommunity(ctx, models.NewCommunity{Name: "Garden Club"}, owner2); models.FieldErrors(err)["slug"] == "" {
		t.Fatalf("duplicate slug: err = %v", err)
	}
	inv, err := s.CreateInvite(ctx, c.ID, owner)
	if err != nil {
		t.Fatal(err)
	}
	joiner := modelstest.Account(t, s, "Joiner")
	_, m, err := s.AcceptInvite(ctx, inv.Code, joiner)
	if err != nil {
		t.Fatal(err)
	}
	_, again, err := s.AcceptInvite(ctx, inv.Code, joiner)
	if err != nil || again.ID != m.ID {
		t.Fatalf("accepting twice: %v %v", again, err)
	}
	ms, err := s.Members(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("members = %d, want 2", len(ms))
	}
	for _, m := range ms {
		if len(m.Roles) != 1 || m.Roles[0] != models.BaseRoleName {
			t.Errorf("%s roles = %v, want the base role", m.DisplayName, m.Roles)
		}
	}
	if _, _, err := s.AcceptInvite(ctx, "nope", joiner); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("unknown invite: %v", err)
	}
	// Another community's member id is not found in this community.
	other, otherOwner := modelstest.Community(t, s, "Other")
	if _, err := s.MemberByID(ctx, c.ID, otherOwner.ID); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("cross-community member lookup: %v", err)
	}
	_ = other
}

func TestPermissionsCover(t *testing.T) {
	perms := []models.RolePermission{
		{ActionType: "constitution.*", Propose: true},
		{ActionType: "slack.rename_channel", Execute: true},
	}
	tests := []struct {
		typ              string
		propose, execute bool
	}{
		{"constitution.add_document", true, false},
		{"slack.rename_channel", true, true},
		{"slack.post_message", false, false},
		{"constitutionx.y", false, false},
	}
	for _, tt := range tests {
		p, e := models.Allowed(perms, tt.typ)
		if p != tt.propose || e != tt.execute {
			t.Errorf("%s: propose=%v execute=%v, want %v %v", tt.typ, p, e, tt.propose, tt.execute)
		}
	}
}

func TestDocumentsAreVersioned(t *testing.T) {
	ctx := context.Background()
	s := modelstest.Open(t)
	c, owner := modelstest.Community(t, s, "Docs")
	d, err := s.CreateDocument(ctx, c.ID, "Code of conduct", "Be kind.", &owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateDocument(ctx, c.ID, d.ID, "Code of conduct", "Be kind and brave.", &owner.ID); err != nil {
		t.Fatal(err)
	}
	docs, err := s.Documents(ctx, c.ID)
	if err != nil || len(docs) != 1 || docs[0].Body != "Be kind and brave." || docs[0].CurrentVersion != 2 {
		t.Fatalf("documents = %+v, %v", docs, err)
	}
	vs, err := s.DocumentVersions(ctx, c.ID, d.ID)
	if err != nil || len(vs) != 2 || vs[1].Body != "Be kind." {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
	if _, err := s.CreateDocument(ctx, c.ID, "", "x", nil); models.FieldErrors(err)["title"] == "" {
		t.Errorf("empty title: %v", err)
	}
	if _, err := s.CreateDocument(ctx, c.ID, "Code of conduct", "dup", nil); models.FieldErrors(err)["title"] == "" {
		t.Errorf("duplicate title: %v", err)
	}
	other, _ := modelstest.Community(t, s, "Elsewhere")
	if _, err := s.DocumentVersions(ctx, other.ID, d.ID); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("another community's document: %v", err)
	}
}

func TestCredentialsAreEncryptedAtRest(t *testing.T) {
	ctx := context.Background()
	s := modelstest.Open(t)
	c, _ := modelstest.Community(t, s, "Slackers")
	type creds struct{ BotToken string }
	conn := &models.PlatformConnection{CommunityID: c.ID, Platform: "slack", ExternalID: "T123", Name: "Slackers"}
	if err := s.SaveConnection(ctx, conn, creds{BotToken: "xoxb-secret-value"}); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := s.DB().Raw("SELECT credentials FROM platform_connections WHERE id = ?", conn.ID).Row().Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 || strings.Contains(string(raw), "xoxb-secret-value") {
		t.Fatalf("credentials stored in clear: %q", raw)
	}
	got, err := s.ConnectionByExternalID(ctx, "slack", "T123")
	if err != nil {
		t.Fatal(err)
	}
	var back creds
	if err := s.Credentials(got, &back); err != nil || back.BotToken != "xoxb-secret-value" {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	other, _ := modelstest.Community(t, s, "Thieves")
	steal := &models.PlatformConnection{CommunityID: other.ID, Platform: "slack", ExternalID: "T123"}
	if err := s.SaveConnection(ctx, steal, creds{}); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("connecting a workspace held by another community: %v", err)
	}
}

func TestIDListDecodes(t *testing.T) {
	tests := []struct {
		in   string
		want []int64
		bad  bool
	}{
		{"[1,2,3]", []int64{1, 2, 3}, false},
		{" [ 4 , 5 ] ", []int64{4, 5}, false},
		{"[]", []int64{}, false},
		{"null", nil, false},
		{"[1e1]", []int64{10}, true}, // not an integer literal: encoding/json refuses a float for int64
		{`{"a":1}`, nil, true},
		{`["x"]`, nil, true},
	}
	for _, tt := range tests {
		var l models.IDList
		err := json.Unmarshal([]byte(tt.in), &l)
		if (err != nil) != tt.bad {
			t.Errorf("%s: err = %v", tt.in, err)
			continue
		}
		if !tt.bad && len(l) != len(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.in, l, tt.want)
		}
		for i := range tt.want {
			if !tt.bad && l[i] != tt.want[i] {
				t.Errorf("%s: got %v, want %v", tt.in, l, tt.want)
			}
		}
	}
}

// TestSQLiteFilesArePrivate: the database, its WAL and its shared-memory file are created
// 0600 and a new data folder 0700, even in a folder anyone may write to; a database left
// readable by others is narrowed when opened.
func TestSQLiteFilesArePrivate(t *testing.T) {
	open := func(path string) {
		t.Helper()
		s, err := models.Open(context.Background(), path, modelstest.SecretKey)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateAccount(context.Background(), models.NewAccount{Email: "a@example.org", Name: "A", Password: "correct horse battery"}); err != nil && !errors.Is(err, models.ErrInvalid) {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			info, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if got := info.Mode().Perm(); got != 0o600 {
				t.Errorf("%s has mode %o, want 600", filepath.Base(p), got)
			}
		}
	}
	open_ := t.TempDir()
	if err := os.Chmod(open_, 0o777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(open_, "data", "policykit.db")
	open(path)
	if info, err := os.Stat(filepath.Dir(path)); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data folder: %v, mode %o, want 700", err, info.Mode().Perm())
	}

	// A database created readable by others (an older version, a copy) is narrowed.
	loose := filepath.Join(open_, "loose.db")
	open(loose)
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	open(loose)
}
