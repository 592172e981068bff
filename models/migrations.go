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
	// Fill, if set, runs after SQL in the same transaction, for data only Go can compute.
	Fill func(tx *gorm.DB) error
}

// migrations is the whole history of the schema, oldest first.
var migrations = []migration{
	{ID: "0001_foundation", SQL: schemaFoundation},
	{ID: "0002_governance", SQL: schemaGovernance},
	{ID: "0003_effect_claim_indexes", SQL: schemaEffectClaims},
	{ID: "0004_web_indexes", SQL: schemaWebIndexes},
	{ID: "0005_identities", SQL: schemaIdentities},
	{ID: "0006_inbound_inbox", SQL: schemaInboundInbox},
	{ID: "0007_instance_admins", SQL: schemaInstanceAdmins},
	{ID: "0008_signin_failures", SQL: schemaSignInFailures},
	{ID: "0009_document_html", SQL: schemaDocumentHTML, Fill: backfillDocumentHTML},
	{ID: "0010_connection_refusals", SQL: schemaConnectionRefusals},
	{ID: "0011_inbox_claimants", SQL: schemaInboxClaimants},
	{ID: "0012_heartbeats_leases", SQL: schemaHeartbeatsLeases},
	{ID: "0013_member_merges", SQL: schemaMemberMerges},
	{ID: "0014_proposal_error_kind", SQL: schemaProposalErrorKind},
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
	// An up-to-date database needs no lock: a restarted replica does not queue behind
	// another process's migration to find nothing to do.
	if pending, err := s.PendingMigrations(ctx); err == nil && len(pending) == 0 {
		return nil, nil
	}
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
			if m.Fill != nil {
				if err := m.Fill(tx); err != nil {
					return err
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

const schemaGovernance = `
ALTER TABLE communities ADD COLUMN policy_epoch BIGINT NOT NULL DEFAULT 0;
CREATE TABLE policies (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	priority INTEGER NOT NULL,
	action_types TEXT NOT NULL DEFAULT '[]',
	mode TEXT NOT NULL DEFAULT 'enforce',
	active BOOLEAN NOT NULL DEFAULT TRUE,
	blocks TEXT NOT NULL DEFAULT '',
	filter_src TEXT NOT NULL DEFAULT '',
	initialize_src TEXT NOT NULL DEFAULT '',
	notify_src TEXT NOT NULL DEFAULT '',
	check_src TEXT NOT NULL DEFAULT '',
	pass_src TEXT NOT NULL DEFAULT '',
	fail_src TEXT NOT NULL DEFAULT '',
	stages TEXT NOT NULL DEFAULT '[]',
	rule TEXT NOT NULL DEFAULT '',
	version INTEGER NOT NULL DEFAULT 1,
	version_id BIGINT,
	last_error TEXT NOT NULL DEFAULT '',
	last_error_at {{time}},
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL
);
CREATE UNIQUE INDEX policies_community_name ON policies (community_id, name);
CREATE INDEX policies_community_kind ON policies (community_id, kind, active, priority);
CREATE TABLE policy_versions (
	id {{pk}},
	policy_id BIGINT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	version INTEGER NOT NULL,
	kind TEXT NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	priority INTEGER NOT NULL,
	action_types TEXT NOT NULL DEFAULT '[]',
	mode TEXT NOT NULL,
	active BOOLEAN NOT NULL,
	blocks TEXT NOT NULL DEFAULT '',
	filter_src TEXT NOT NULL DEFAULT '',
	initialize_src TEXT NOT NULL DEFAULT '',
	notify_src TEXT NOT NULL DEFAULT '',
	check_src TEXT NOT NULL DEFAULT '',
	pass_src TEXT NOT NULL DEFAULT '',
	fail_src TEXT NOT NULL DEFAULT '',
	stages TEXT NOT NULL DEFAULT '[]',
	rule TEXT NOT NULL DEFAULT '',
	proposal_id BIGINT,
	created_at {{time}} NOT NULL
);
CREATE UNIQUE INDEX policy_versions_policy_version ON policy_versions (policy_id, version);
CREATE TABLE actions (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	type TEXT NOT NULL,
	kind TEXT NOT NULL,
	platform TEXT NOT NULL,
	initiator_id BIGINT REFERENCES members(id) ON DELETE SET NULL,
	params TEXT NOT NULL DEFAULT '{}',
	origin TEXT NOT NULL,
	external_refs TEXT NOT NULL DEFAULT '{}',
	status TEXT NOT NULL,
	reverted BOOLEAN NOT NULL DEFAULT FALSE,
	bundle_id BIGINT REFERENCES actions(id) ON DELETE CASCADE,
	note TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL
);
CREATE INDEX actions_community_created ON actions (community_id, created_at);
CREATE INDEX actions_bundle ON actions (bundle_id);
CREATE TABLE proposals (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	action_id BIGINT NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
	policy_id BIGINT REFERENCES policies(id) ON DELETE SET NULL,
	policy_version_id BIGINT NOT NULL REFERENCES policy_versions(id),
	stage INTEGER NOT NULL DEFAULT 0,
	parent_id BIGINT REFERENCES proposals(id) ON DELETE SET NULL,
	status TEXT NOT NULL,
	data TEXT NOT NULL DEFAULT '{}',
	seed BIGINT NOT NULL,
	rule TEXT NOT NULL DEFAULT '',
	ballot TEXT,
	notified BOOLEAN NOT NULL DEFAULT FALSE,
	error TEXT NOT NULL DEFAULT '',
	error_at {{time}},
	checked_at {{time}},
	decided_at {{time}},
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL
);
CREATE INDEX proposals_status ON proposals (status, id);
CREATE INDEX proposals_community_status ON proposals (community_id, status, id);
CREATE INDEX proposals_action ON proposals (action_id);
CREATE TABLE votes (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	proposal_id BIGINT NOT NULL REFERENCES proposals(id) ON DELETE CASCADE,
	member_id BIGINT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
	value TEXT NOT NULL,
	via TEXT NOT NULL,
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL
);
CREATE UNIQUE INDEX votes_proposal_member ON votes (proposal_id, member_id);
CREATE TABLE shadow_decisions (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	proposal_id BIGINT NOT NULL REFERENCES proposals(id) ON DELETE CASCADE,
	policy_id BIGINT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
	policy_version_id BIGINT NOT NULL REFERENCES policy_versions(id),
	outcome TEXT NOT NULL,
	data TEXT NOT NULL DEFAULT '{}',
	error TEXT NOT NULL DEFAULT '',
	decided_at {{time}},
	updated_at {{time}} NOT NULL
);
CREATE UNIQUE INDEX shadow_decisions_proposal_version ON shadow_decisions (proposal_id, policy_version_id);
CREATE INDEX shadow_decisions_policy ON shadow_decisions (policy_id);
CREATE TABLE effects (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	proposal_id BIGINT REFERENCES proposals(id) ON DELETE CASCADE,
	action_id BIGINT REFERENCES actions(id) ON DELETE CASCADE,
	seq INTEGER NOT NULL DEFAULT 0,
	kind TEXT NOT NULL,
	platform TEXT NOT NULL,
	payload TEXT NOT NULL DEFAULT '{}',
	idem_key TEXT NOT NULL UNIQUE,
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at {{time}} NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	claimed_by TEXT NOT NULL DEFAULT '',
	claimed_until {{time}},
	result TEXT NOT NULL DEFAULT '{}',
	delivered_at {{time}},
	created_at {{time}} NOT NULL
);
CREATE INDEX effects_due ON effects (status, next_attempt_at);
CREATE INDEX effects_proposal ON effects (proposal_id, seq);
CREATE TABLE audit_events (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	seq BIGINT NOT NULL,
	kind TEXT NOT NULL,
	proposal_id BIGINT,
	action_id BIGINT,
	member_id BIGINT,
	payload TEXT NOT NULL DEFAULT '{}',
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL,
	created_at {{time}} NOT NULL
);
CREATE UNIQUE INDEX audit_events_community_seq ON audit_events (community_id, seq);
CREATE INDEX audit_events_proposal ON audit_events (proposal_id)
`

// schemaEffectClaims serves ClaimEffects: pending effects in id order, and "is an earlier
// effect of this action still pending" as one partial-index probe.
const schemaEffectClaims = `
CREATE INDEX effects_pending ON effects (id) WHERE status = 'pending';
CREATE INDEX effects_pending_by_action ON effects (action_id, id) WHERE status = 'pending'
`

// schemaWebIndexes serves the pages and the API: the proposals list pages by (community, id)
// with optional status, policy and type filters from one covering index (a proposal row holds
// its ballot, which can be long, and reading past it for every listed row was most of the
// list's cost), the dashboard reads recent decisions, a proposal
// page reads its action's audit events and effects, and "waiting for my vote" reads a
// member's votes.
const schemaWebIndexes = `
CREATE INDEX proposals_community_list ON proposals (community_id, id, status, policy_id, action_id, policy_version_id, stage, created_at, decided_at);
CREATE INDEX proposals_community_policy ON proposals (community_id, policy_id, id);
CREATE INDEX proposals_community_decided ON proposals (community_id, decided_at);
CREATE INDEX actions_community_type ON actions (community_id, type, id);
CREATE INDEX audit_events_action ON audit_events (action_id);
CREATE INDEX audit_events_community_member ON audit_events (community_id, member_id, seq);
CREATE INDEX audit_events_community_kind ON audit_events (community_id, kind, seq);
CREATE INDEX effects_action ON effects (action_id);
CREATE INDEX votes_member ON votes (member_id, proposal_id)
`

// schemaIdentities links members to platform accounts and keeps what platform integrations
// must remember across restarts and replicas: inbound deliveries already seen (Slack retries
// and replays), calls we issued whose events will echo back, the messages a multi-part
// delivery already sent, and the last known name and topic of each channel (a topic change
// event does not say what the topic was before).
const schemaIdentities = `
CREATE TABLE platform_identities (
	id {{pk}},
	community_id BIGINT NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
	member_id BIGINT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
	platform TEXT NOT NULL,
	workspace TEXT NOT NULL DEFAULT '',
	external_id TEXT NOT NULL,
	username TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL
);
CREATE UNIQUE INDEX platform_identities_external ON platform_identities (community_id, platform, external_id);
CREATE INDEX platform_identities_member ON platform_identities (member_id);
CREATE TABLE inbound_deliveries (
	platform TEXT NOT NULL,
	dedupe_key TEXT NOT NULL,
	expires_at {{time}} NOT NULL,
	PRIMARY KEY (platform, dedupe_key)
);
CREATE INDEX inbound_deliveries_expiry ON inbound_deliveries (expires_at);
CREATE TABLE platform_echoes (
	id {{pk}},
	connection_id BIGINT NOT NULL REFERENCES platform_connections(id) ON DELETE CASCADE,
	echo_key TEXT NOT NULL,
	expires_at {{time}} NOT NULL
);
CREATE INDEX platform_echoes_key ON platform_echoes (connection_id, echo_key);
CREATE INDEX platform_echoes_expiry ON platform_echoes (expires_at);
CREATE TABLE effect_parts (
	effect_id BIGINT NOT NULL REFERENCES effects(id) ON DELETE CASCADE,
	part TEXT NOT NULL,
	ref TEXT NOT NULL,
	PRIMARY KEY (effect_id, part)
);
CREATE TABLE platform_channels (
	connection_id BIGINT NOT NULL REFERENCES platform_connections(id) ON DELETE CASCADE,
	channel_id TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	topic TEXT NOT NULL DEFAULT '',
	updated_at {{time}} NOT NULL,
	PRIMARY KEY (connection_id, channel_id)
)
`

// schemaInboundInbox keeps an accepted inbound delivery's body until it has been processed,
// so that what was acknowledged to the platform survives a crash: a delivery whose body is
// still there after its claim expired is processed again (by any replica).
const schemaInboundInbox = `
ALTER TABLE inbound_deliveries ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE inbound_deliveries ADD COLUMN body TEXT;
ALTER TABLE inbound_deliveries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inbound_deliveries ADD COLUMN claimed_until {{time}};
CREATE INDEX inbound_deliveries_unprocessed ON inbound_deliveries (claimed_until) WHERE body IS NOT NULL
`

// schemaProposalErrorKind keeps the kind of a proposal's policy error (over_budget, runtime,
// compile) beside its text: the check loop compares kinds, so an error whose words change
// from pass to pass is written once.
const schemaProposalErrorKind = `
ALTER TABLE proposals ADD COLUMN error_kind VARCHAR(32) NOT NULL DEFAULT ''
`

// schemaInstanceAdmins marks the accounts that run the instance (server-wide pages such as
// /admin/runtime); they are made on the command line, never on the website.
const schemaInstanceAdmins = `
ALTER TABLE accounts ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE
`

// schemaSignInFailures counts failed sign-ins per account, device and client address, for
// throttling (models/signin.go); rows are forgotten a day after their last failure.
const schemaSignInFailures = `
CREATE TABLE signin_failures (
	throttle_key TEXT PRIMARY KEY,
	failures INTEGER NOT NULL,
	blocked_until {{time}} NOT NULL,
	last_failure_at {{time}} NOT NULL
);
CREATE INDEX signin_failures_last ON signin_failures (last_failure_at)
`

// schemaDocumentHTML keeps each document version's rendered, sanitised HTML, so pages
// never render markdown (backfilled for older versions by backfillDocumentHTML).
const schemaDocumentHTML = `
ALTER TABLE document_versions ADD COLUMN html TEXT NOT NULL DEFAULT ''
`

// schemaConnectionRefusals counts the events of a connection that arrived before its
// community approved it, which are not governed, so its page can say so.
const schemaConnectionRefusals = `
ALTER TABLE platform_connections ADD COLUMN refused_events BIGINT NOT NULL DEFAULT 0;
ALTER TABLE platform_connections ADD COLUMN refused_at {{time}}
`

// schemaInboxClaimants records which process holds each inbox item's claim, so that the
// claims of a process that died are handed back as soon as its heartbeat stops rather than
// when they expire.
const schemaInboxClaimants = `
ALTER TABLE inbound_deliveries ADD COLUMN claimed_by TEXT
`

// schemaHeartbeatsLeases: each process's heartbeat (the claims of a process whose heartbeat
// stopped are handed back at once), and leases giving one process at a time a long-lived
// link (a gateway session, a poller, a Socket Mode connection).
const schemaHeartbeatsLeases = `
CREATE TABLE heartbeats (
	instance TEXT PRIMARY KEY,
	started_at {{time}} NOT NULL,
	seen_at {{time}} NOT NULL
);
CREATE TABLE leases (
	name TEXT PRIMARY KEY,
	holder TEXT NOT NULL,
	expires_at {{time}} NOT NULL
);
CREATE INDEX leases_holder ON leases (holder)
`

// schemaMemberMerges records which member a merged member became
// (constitution.merge_members).
const schemaMemberMerges = `
ALTER TABLE members ADD COLUMN merged_into BIGINT REFERENCES members(id) ON DELETE SET NULL
`
