package models

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names as GORM reports them.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// IsPostgresURL tells a PostgreSQL URL from a SQLite file path.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open connects to PostgreSQL when dsn is a postgres:// URL and otherwise opens (creating if
// needed) a SQLite file at that path, with WAL, a busy timeout and foreign keys on. The secret
// key encrypts platform credentials at rest.
func Open(ctx context.Context, dsn string, secretKey []byte) (*Store, error) {
	box, err := newBox(secretKey)
	if err != nil {
		return nil, err
	}
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		TranslateError:         true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
	var db *gorm.DB
	if IsPostgresURL(dsn) {
		db, err = gorm.Open(postgres.Open(dsn), cfg)
	} else {
		if err := privateSQLiteFiles(dsn); err != nil {
			return nil, err
		}
		// _txlock=immediate takes the write lock at BEGIN, so two writers queue on the busy
		// timeout instead of failing with SQLITE_BUSY when a reader upgrades to a writer.
		db, err = gorm.Open(sqlite.Open(dsn+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)"+
			"&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-32000)&_txlock=immediate"), cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("database handle: %w", err)
	}
	if db.Dialector.Name() == DialectSQLite {
		sqlDB.SetMaxOpenConns(8)
		// Keep them all idle too: database/sql keeps 2 by default, so a burst closed and
		// reopened connections (pragmas and prepared statements again) on every request.
		sqlDB.SetMaxIdleConns(8)
	} else {
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(20)
	}
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("reach database: %w", err)
	}
	st := &Store{db: db, box: box}
	if db.Dialector.Name() == DialectSQLite {
		st.gate = &sync.Mutex{}
		if err := registerWriteGate(db, st.gate); err != nil {
			_ = sqlDB.Close()
			return nil, err
		}
	}
	return st, nil
}

// registerWriteGate makes every write of this process to a SQLite file pass the gate: a
// statement outside a transaction holds it while it runs, a transaction (Store.Tx) from
// BEGIN to COMMIT. SQLite has one writer at a time; left to itself, a writer that finds the
// file locked polls with growing sleeps (busy_timeout) and can starve behind a process that
// commits back to back. A Go mutex hands the lock over in arrival order under contention,
// so a sign-in waits for the transactions ahead of it, not for a lucky poll.
func registerWriteGate(db *gorm.DB, gate *sync.Mutex) error {
	const held = "policykit:write_gate"
	lock := func(tx *gorm.DB) {
		if _, inTx := tx.Statement.ConnPool.(gorm.TxCommitter); !inTx {
			gate.Lock()
			tx.InstanceSet(held, true)
		}
	}
	unlock := func(tx *gorm.DB) {
		if v, ok := tx.InstanceGet(held); ok && v == true {
			gate.Unlock()
		}
	}
	cb := db.Callback()
	for _, err := range []error{
		cb.Create().Before("*").Register("policykit:gate_create", lock), cb.Create().After("*").Register("policykit:ungate_create", unlock),
		cb.Update().Before("*").Register("policykit:gate_update", lock), cb.Update().After("*").Register("policykit:ungate_update", unlock),
		cb.Delete().Before("*").Register("policykit:gate_delete", lock), cb.Delete().After("*").Register("policykit:ungate_delete", unlock),
		cb.Raw().Before("*").Register("policykit:gate_raw", lock), cb.Raw().After("*").Register("policykit:ungate_raw", unlock),
	} {
		if err != nil {
			return fmt.Errorf("register the write gate: %w", err)
		}
	}
	return nil
}

// privateSQLiteFiles creates the SQLite database file readable by this user only (0600; it
// holds password hashes and sessions), in a folder only this user may enter (0700) when the
// folder is new, and narrows an existing database, WAL or shared-memory file to 0600. SQLite
// creates its WAL and shared-memory files with the database file's mode, so they follow.
func privateSQLiteFiles(path string) error {
	if path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create database folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("database file: %w", err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("make %s private: %w", p, err)
			}
		}
	}
	return nil
}

// Store is the storage of every domain type. Its methods take a context first, scope every
// query by community, and return the error kinds of errors.go.
type Store struct {
	db  *gorm.DB
	box *box
	// savepoint, when set, is opened just before the first statement run through this
	// Store (see WithLazySavePoint).
	savepoint *lazySavePoint
	// gate serialises this process's writes to SQLite (registerWriteGate); nil on PostgreSQL.
	gate *sync.Mutex
}

// lazySavePoint is a savepoint a Store opens only if it is used.
type lazySavePoint struct {
	name, release string
	taken         bool
	err           error
}

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.db.Dialector.Name() }

// Ping checks the database answers (used by /readyz).
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close releases the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Tx runs fn in one transaction: everything fn writes through the Store it receives commits
// together or not at all.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	if err := s.openSavePoint(ctx); err != nil {
		return err
	}
	if _, inTx := s.db.Statement.ConnPool.(gorm.TxCommitter); s.gate != nil && !inTx {
		s.gate.Lock()
		defer s.gate.Unlock()
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(&Store{db: tx, box: s.box, gate: s.gate})
	})
}

// WithLazySavePoint returns a Store on the same transaction that opens savepoint name (and
// releases the savepoint release, if given) just before its first statement. A group commit
// gives each request one: most requests run no statement of their own (their rows are
// written together at the end), and then cost no round trip for a savepoint.
func (s *Store) WithLazySavePoint(name, release string) *Store {
	return &Store{db: s.db, box: s.box, savepoint: &lazySavePoint{name: name, release: release}, gate: s.gate}
}

// SavePointTaken tells whether a Store from WithLazySavePoint has opened its savepoint.
func (s *Store) SavePointTaken() bool { return s.savepoint != nil && s.savepoint.taken }

func (s *Store) openSavePoint(ctx context.Context) error {
	sp := s.savepoint
	if sp == nil {
		return nil
	}
	if !sp.taken && sp.err == nil {
		sp.err = (&Store{db: s.db, box: s.box}).SavePoint(ctx, sp.name, sp.release)
		sp.taken = sp.err == nil
	}
	return sp.err
}

// SavePoint marks a point inside the transaction to roll back to. A previous savepoint
// named in release is released in the same round trip: savepoints left open nest, and
// PostgreSQL walks the whole stack of nested subtransactions for every row it checks.
func (s *Store) SavePoint(ctx context.Context, name, release string) error {
	sql := "SAVEPOINT " + name
	if release != "" {
		sql = "RELEASE SAVEPOINT " + release + "; " + sql
	}
	return s.q(ctx).Exec(sql).Error
}

// ReleaseSavePoint keeps what was written since the savepoint and forgets the savepoint.
func (s *Store) ReleaseSavePoint(ctx context.Context, name string) error {
	return s.q(ctx).Exec("RELEASE SAVEPOINT " + name).Error
}

// RollbackTo undoes everything written since the savepoint.
func (s *Store) RollbackTo(ctx context.Context, name string) error {
	return s.q(ctx).RollbackTo(name).Error
}

// DB exposes the GORM handle to tests and benchmarks that seed data in bulk.
func (s *Store) DB() *gorm.DB { return s.db }

// q starts a query bound to ctx (after opening a lazy savepoint).
func (s *Store) q(ctx context.Context) *gorm.DB {
	db := s.db.WithContext(ctx)
	if err := s.openSavePoint(ctx); err != nil {
		_ = db.AddError(err)
	}
	return db
}

// notFound turns GORM's missing-row error into ErrNotFound, naming what was missing.
func notFound(err error, what string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("%s: %w", what, ErrConflict)
	}
	return err
}

// IDBlock hands out ids reserved for rows a transaction will insert with explicit ids, so a
// row's id is known (to policies, effects and audit events) before the row is written once,
// complete, instead of inserted early and updated later.
type IDBlock struct {
	table     string
	next, end int64 // next id to hand out; end is the last reserved
}

// NewIDBlock starts an empty block of ids for a table; ids are reserved on first use.
func NewIDBlock(table string) *IDBlock { return &IDBlock{table: table} }

// Next returns a reserved id, reserving a new block of n when the current one is used up.
// On PostgreSQL the ids come from the table's sequence (safe across replicas). On SQLite the
// block starts after the highest id ever used (the transaction holds the database's write
// lock, and SQLite is single-process); a later block of the same transaction continues after
// the previous one, whose ids may not be written yet.
func (b *IDBlock) Next(ctx context.Context, s *Store, n int) (int64, error) {
	if b.next == 0 || b.next > b.end {
		if err := b.reserve(ctx, s, n); err != nil {
			return 0, err
		}
	}
	id := b.next
	b.next++
	return id, nil
}

func (b *IDBlock) reserve(ctx context.Context, s *Store, n int) error {
	if s.Dialect() == DialectPostgres {
		var ids []int64
		err := s.q(ctx).Raw("SELECT nextval(pg_get_serial_sequence(?, 'id')) FROM generate_series(1, ?)", b.table, n).Scan(&ids).Error
		if err != nil || len(ids) == 0 {
			return fmt.Errorf("reserve %s ids: %w", b.table, errors.Join(err, errors.New("no ids")))
		}
		// Sequence values of concurrent callers interleave, so hand out only the contiguous run.
		b.next, b.end = ids[0], ids[0]
		for _, id := range ids[1:] {
			if id != b.end+1 {
				break
			}
			b.end = id
		}
		return nil
	}
	start := b.end
	if start == 0 {
		var maxID, seq int64
		if err := s.q(ctx).Raw("SELECT COALESCE(MAX(id), 0) FROM " + b.table).Scan(&maxID).Error; err != nil {
			return fmt.Errorf("reserve %s ids: %w", b.table, err)
		}
		// AUTOINCREMENT never reuses an id, even of a deleted row: it remembers the highest.
		_ = s.q(ctx).Raw("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = ?", b.table).Scan(&seq).Error
		start = max(maxID, seq)
	}
	b.next, b.end = start+1, start+int64(n)
	return nil
}
