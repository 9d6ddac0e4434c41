package daemon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure Go SQLite, no cgo
)

// DB is the daemon's database: SQLite embedded (the default, one replica)
// or PostgreSQL (several replicas). Queries are written with ? and rebound
// for PostgreSQL.
type DB struct {
	*sql.DB
	Dialect string // "sqlite" or "postgres"
}

// ErrDatabaseURL is matched by every error of a bad database URL.
var ErrDatabaseURL = errors.New("daemon: database URL")

// OpenDB opens and migrates the database named by rawURL:
// sqlite:///absolute/path.db, sqlite://relative/path.db (file created
// 0600), or postgres://user@host:5432/db?sslmode=... .
func OpenDB(ctx context.Context, rawURL string) (*DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the whole URL, password included: give the cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: does not parse: %v", ErrDatabaseURL, err)
	}
	var db *DB
	switch u.Scheme {
	case "sqlite", "sqlite3":
		path := u.Host + u.Path
		if path == "" {
			return nil, fmt.Errorf("%w: %q names no file (sqlite:///abs/path.db or sqlite://rel/path.db)", ErrDatabaseURL, rawURL)
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, err
			}
		}
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
			f.Close()
		}
		// WAL: readers do not block the sync's writer; busy_timeout: a
		// second process waits instead of failing; foreign keys on.
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		sdb, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, err
		}
		sdb.SetMaxOpenConns(1) // one writer; SQLite serializes anyway
		db = &DB{DB: sdb, Dialect: "sqlite"}
	case "postgres", "postgresql":
		sdb, err := openPostgres(rawURL)
		if err != nil {
			return nil, err
		}
		sdb.SetMaxOpenConns(8)
		sdb.SetConnMaxIdleTime(5 * time.Minute)
		db = &DB{DB: sdb, Dialect: "postgres"}
	default:
		return nil, fmt.Errorf("%w: scheme %q: want sqlite or postgres", ErrDatabaseURL, u.Scheme)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("daemon: database: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Rebind turns ? placeholders into $1, $2, ... for PostgreSQL.
func (db *DB) Rebind(q string) string {
	if db.Dialect != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

var schema = []string{
	`CREATE TABLE IF NOT EXISTS directory_users (
		id TEXT PRIMARY KEY,
		display_name TEXT, user_principal_name TEXT, mail TEXT, given_name TEXT, surname TEXT,
		job_title TEXT, department TEXT, office_location TEXT, account_enabled TEXT,
		synced_at TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS directory_groups (
		id TEXT PRIMARY KEY,
		display_name TEXT, mail TEXT, mail_nickname TEXT, description TEXT, security_enabled TEXT,
		synced_at TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS directory_group_members (
		group_id TEXT NOT NULL, member_id TEXT NOT NULL, member_type TEXT, synced_at TEXT NOT NULL,
		PRIMARY KEY (group_id, member_id))`,
	// One row per delta stream: the link to continue from, committed with
	// the data it covers.
	`CREATE TABLE IF NOT EXISTS sync_cursors (
		stream TEXT PRIMARY KEY, link TEXT NOT NULL, round_complete INTEGER NOT NULL, updated_at TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS credential_reports (
		run_id TEXT NOT NULL, object_type TEXT NOT NULL, object_id TEXT NOT NULL, app_id TEXT, display_name TEXT,
		credential_type TEXT NOT NULL, key_id TEXT NOT NULL, credential_name TEXT, end_date_time TEXT NOT NULL, expired INTEGER NOT NULL,
		reported_at TEXT NOT NULL,
		PRIMARY KEY (run_id, object_id, key_id))`,
	`CREATE TABLE IF NOT EXISTS group_snapshots (
		group_id TEXT NOT NULL, member_id TEXT NOT NULL, member_type TEXT, snapshot_at TEXT NOT NULL,
		PRIMARY KEY (group_id, member_id))`,
	`CREATE TABLE IF NOT EXISTS group_snapshot_runs (
		group_id TEXT PRIMARY KEY, snapshot_at TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS group_snapshot_changes (
		group_id TEXT NOT NULL, member_id TEXT NOT NULL, change TEXT NOT NULL, changed_at TEXT NOT NULL)`,
}

func (db *DB) migrate(ctx context.Context) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("daemon: database schema: %w", err)
	}
	defer tx.Rollback()
	if db.Dialect == "postgres" {
		// CREATE TABLE IF NOT EXISTS is not safe when replicas start
		// together (duplicate pg_type rows): one migrates at a time.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7262013)`); err != nil {
			return fmt.Errorf("daemon: database schema: %w", err)
		}
	}
	for _, s := range schema {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("daemon: database schema: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("daemon: database schema: %w", err)
	}
	return nil
}

// timestamp is fixed-width, so that text order is time order.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }
