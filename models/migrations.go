package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// A migration is one reviewed schema change. Migrations are plain SQL written once for both
// databases: the few words that differ are placeholders filled per dialect (see ddl). They are
// applied in order, each in its own transaction, and recorded in schema_migrations, so running
// them again does nothing. Never edit a migration that has shipped; add a new one.
type migration struct {
	ID  string
	SQL string
}

// migrations is the whole history of the schema, oldest first.
var migrations = []migration{
	{ID: "0001_foundation", SQL: schemaFoundation},
}

// ddl fills the dialect placeholders of a migration.
func ddl(dialect, sql string) string {
	pk, ts, blob := "INTEGER PRIMARY KEY AUTOINCREMENT", "DATETIME", "BLOB"
	if dialect == DialectPostgres {
		pk, ts, blob = "BIGSERIAL PRIMARY KEY", "TIMESTAMPTZ", "BYTEA"
	}
	return strings.NewReplacer("{{pk}}", pk, "{{time}}", ts, "{{bytes}}", blob).Replace(sql)
}

// migrationLockKey serialises concurrent `migrate` runs of several replicas on PostgreSQL.
const migrationLockKey = 7_243_771_001

// Migrate applies every migration not yet recorded. It is safe to run at every start and
// from several processes at once.
func (s *Store) Migrate(ctx context.Context) (applied []string, err error) {
	db := s.q(ctx)
	if s.Dialect() == DialectPostgres {
		// Session-level advisory locks belong to one connection, so hold one connection.
		conn, err := db.DB()
		if err != nil {
			return nil, err
		}
		c, err := conn.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		defer c.Close()
		if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		defer c.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey) //nolint:errcheck
	}
	if err := db.Exec(ddl(s.Dialect(), `CREATE TABLE IF NOT EXISTS schema_migrations (
		id TEXT PRIMARY KEY,
		applied_at {{time}} NOT NULL)`)).Error; err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var done []string
	if err := db.Raw("SELECT id FROM schema_migrations").Scan(&done).Error; err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	seen := make(map[string]bool, len(done))
	for _, id := range done {
		seen[id] = true
	}
	for _, m := range migrations {
		if seen[m.ID] {
			continue
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			for _, stmt := range splitStatements(ddl(s.Dialect(), m.SQL)) {
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("%w\n%s", err, stmt)
				}
			}
			return tx.Exec("INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)", m.ID, time.Now().UTC()).Error
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.ID, err)
		}
		applied = append(applied, m.ID)
	}
	return applied, nil
}

// PendingMigrations lists migrations not yet applied.
func (s *Store) PendingMigrations(ctx context.Context) ([]string, error) {
	var done []string
	if s.q(ctx).Migrator().HasTable("schema_migrations") {
		if err := s.q(ctx).Raw("SELECT id FROM schema_migrations").Scan(&done).Error; err != nil {
			return nil, err
		}
	}
	seen := make(map[string]bool, len(done))
	for _, id := range done {
		seen[id] = true
	}
	var pending []string
	for _, m := range migrations {
		if !seen[m.ID] {
			pending = append(pending, m.ID)
		}
	}
	return pending, nil
}

// splitStatements splits a migration on the semicolons that end its statements. Migrations
// contain no semicolons inside literals.
func splitStatements(sql string) []string {
	var out []string
	for _, part := range strings.Split(sql, ";") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

const schemaFoundation = `
CREATE TABLE communities (
	id {{pk}},
	slug TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	settings TEXT NOT NULL DEFAULT '{}',
	audit_seq BIGINT NOT NULL DEFAULT 0,
	audit_hash TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL
);
CREATE TABLE accounts (
	id {{pk}},
	email TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	password_hash TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL
);
CREATE TABLE members (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	account_id BIGINT REFERENCES accounts(id) ON DELETE SET NULL,
	display_name TEXT NOT NULL,
	created_at {{time}} NOT NULL,
	left_at {{time}}
);
CREATE UNIQUE INDEX members_community_account ON members (community_id, account_id);
CREATE INDEX members_account ON members (account_id);
CREATE TABLE roles (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	is_base BOOLEAN NOT NULL DEFAULT FALSE,
	created_at {{time}} NOT NULL
);
CREATE UNIQUE INDEX roles_community_name ON roles (community_id, name);
CREATE TABLE role_permissions (
	id {{pk}},
	role_id BIGINT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
	action_type TEXT NOT NULL,
	propose BOOLEAN NOT NULL DEFAULT FALSE,
	execute BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX role_permissions_role_type ON role_permissions (role_id, action_type);
CREATE TABLE member_roles (
	member_id BIGINT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
	role_id BIGINT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
	PRIMARY KEY (member_id, role_id)
);
CREATE INDEX member_roles_role ON member_roles (role_id);
CREATE TABLE documents (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	title TEXT NOT NULL,
	current_version INTEGER NOT NULL DEFAULT 1,
	deleted_at {{time}},
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL
);
CREATE UNIQUE INDEX documents_community_title ON documents (community_id, title);
CREATE TABLE document_versions (
	id {{pk}},
	document_id BIGINT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
	version INTEGER NOT NULL,
	title TEXT NOT NULL,
	body TEXT NOT NULL,
	author_id BIGINT REFERENCES members(id) ON DELETE SET NULL,
	created_at {{time}} NOT NULL
);
CREATE UNIQUE INDEX document_versions_doc_version ON document_versions (document_id, version);
CREATE TABLE platform_connections (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	platform TEXT NOT NULL,
	external_id TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	bot_user_id TEXT NOT NULL DEFAULT '',
	credentials {{bytes}},
	status TEXT NOT NULL DEFAULT 'connected',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL
);
CREATE UNIQUE INDEX platform_connections_platform_external ON platform_connections (platform, external_id);
CREATE INDEX platform_connections_community ON platform_connections (community_id);
CREATE TABLE invites (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	code TEXT NOT NULL UNIQUE,
	created_by BIGINT REFERENCES members(id) ON DELETE SET NULL,
	uses INTEGER NOT NULL DEFAULT 0,
	expires_at {{time}},
	revoked_at {{time}},
	created_at {{time}} NOT NULL
);
CREATE INDEX invites_community ON invites (community_id);
CREATE TABLE sessions (
	id TEXT PRIMARY KEY,
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	created_at {{time}} NOT NULL,
	expires_at {{time}} NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE TABLE api_tokens (
	id {{pk}},
	account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	prefix TEXT NOT NULL,
	created_at {{time}} NOT NULL,
	last_used_at {{time}},
	revoked_at {{time}}
);
CREATE INDEX api_tokens_account ON api_tokens (account_id)
`
