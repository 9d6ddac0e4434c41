package daemon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/entrakit/entrakit/graphapi"
)

// DirectorySync mirrors the directory's users (and groups with their
// members) into the database through Graph delta queries. The first run
// lists everything; later runs fetch only what changed, deletions
// included: a deleted user is removed whether Graph reports it soft-deleted
// (@removed "changed": in the deleted items, restorable for 30 days) or
// gone for good ("deleted"), and a group's members@delta, the whole list in
// a first round, is only the members that joined or left (@removed) in later
// ones. Each page's changes and the link to continue from are committed in
// one transaction: a crash or a cancel at any point resumes from the last
// committed page, losing and duplicating nothing.
type DirectorySync struct {
	// Groups also syncs groups and their direct members (default true
	// through the config).
	Groups bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Name implements Job.
func (j *DirectorySync) Name() string { return "directory-sync" }

// userColumns maps the Graph properties the sync selects to columns.
var userColumns = map[string]string{
	"displayName": "display_name", "userPrincipalName": "user_principal_name", "mail": "mail",
	"givenName": "given_name", "surname": "surname", "jobTitle": "job_title", "department": "department",
	"officeLocation": "office_location", "accountEnabled": "account_enabled",
}

var groupColumns = map[string]string{
	"displayName": "display_name", "mail": "mail", "mailNickname": "mail_nickname",
	"description": "description", "securityEnabled": "security_enabled",
}

func selectOf(cols map[string]string, extra ...string) []string {
	out := append([]string(nil), extra...)
	for k := range cols {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Run implements Job.
func (j *DirectorySync) Run(ctx context.Context, env *RunEnv) (Result, error) {
	now := clock(j.Now)
	s := &syncer{db: env.DB, now: now, env: env, stmts: map[string]*sql.Stmt{}}
	defer s.close()
	users, err := s.stream(ctx, "users", "directory_users", userColumns, func(link string, page func(graphapi.DeltaPage) error) error {
		return env.Graph.UsersDeltaPages(ctx, link, selectOf(userColumns, "id"), page)
	})
	res := Result{Items: users}
	if err != nil {
		return res, err
	}
	if j.Groups {
		groups, err := s.stream(ctx, "groups", "directory_groups", groupColumns, func(link string, page func(graphapi.DeltaPage) error) error {
			return env.Graph.GroupsDeltaPages(ctx, link, selectOf(groupColumns, "id", "members"), page)
		})
		res.Items += groups
		if err != nil {
			return res, err
		}
		res.Summary = fmt.Sprintf("%d user changes, %d group changes", users, groups)
	} else {
		res.Summary = fmt.Sprintf("%d user changes", users)
	}
	return res, nil
}

// ErrConcurrentSync: another run of the same stream moved the cursor; this
// run stops and leaves the stream to it.
var ErrConcurrentSync = errors.New("daemon: another run of this sync is in progress")

type syncer struct {
	db    *DB
	env   *RunEnv
	now   func() time.Time
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func (s *syncer) close() {
	for _, st := range s.stmts {
		st.Close()
	}
}

// cursor is where a delta stream stands.
type cursor struct {
	link          string
	roundComplete bool   // link is a deltaLink: the next run is incremental
	roundStarted  string // timestamp of a full round, for its sweep
}

func (s *syncer) cursor(ctx context.Context, stream string) (cursor, error) {
	var c cursor
	var complete int
	err := s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT link, round_complete, updated_at FROM sync_cursors WHERE stream = ?`), stream).
		Scan(&c.link, &complete, &c.roundStarted)
	if errors.Is(err, sql.ErrNoRows) {
		return cursor{}, nil
	}
	c.roundComplete = complete == 1
	return c, err
}

// stream runs one delta round of stream into table; it returns the number
// of changes applied.
func (s *syncer) stream(ctx context.Context, stream, table string, cols map[string]string,
	run func(link string, page func(graphapi.DeltaPage) error) error) (int, error) {
	c, err := s.cursor(ctx, stream)
	if err != nil {
		return 0, dbErr(fmt.Errorf("daemon: %s cursor: %w", stream, err))
	}
	full := c.link == "" || !c.roundComplete && c.roundStarted != "" && strings.HasPrefix(c.roundStarted, "full:")
	roundStart := c.roundStarted
	if c.link == "" {
		roundStart = "full:" + timestamp(s.now())
	} else if c.roundComplete {
		roundStart = "delta:" + timestamp(s.now())
	}
	link := c.link
	prev := c.link // the cursor this run expects to find: compare-and-set
	n := 0
	page := func(p graphapi.DeltaPage) error {
		applied, err := s.applyPage(ctx, stream, table, cols, roundStart, prev, p, full)
		if err == nil {
			prev = p.NextLink + p.DeltaLink
		}
		if !errors.Is(err, ErrConcurrentSync) {
			err = dbErr(err)
		}
		n += applied
		s.env.progress(n)
		return err
	}
	err = run(link, page)
	var ge *graphapi.Error
	if errors.As(err, &ge) && ge.Status == http.StatusGone && c.link != "" {
		// The delta token expired (410 Gone, resyncRequired): start a full
		// round; its sweep removes what disappeared meanwhile.
		s.env.Log.Warn("delta token expired; running a full sync", "stream", stream)
		if _, derr := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM sync_cursors WHERE stream = ?`), stream); derr != nil {
			return n, derr
		}
		return s.stream(ctx, stream, table, cols, run)
	}
	return n, err
}

// applyPage writes one page and the link after it in one transaction. At
// the end of a full round it sweeps the rows the round did not see.
func (s *syncer) applyPage(ctx context.Context, stream, table string, cols map[string]string, round, prev string, p graphapi.DeltaPage, full bool) (int, error) {
	// Statements are prepared before the transaction takes the (SQLite:
	// only) connection.
	for _, ch := range p.Changes {
		if !ch.Removed && ch.ID != "" {
			if _, _, err := s.upsertStmt(ctx, table, cols, ch); err != nil {
				return 0, err
			}
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	link, complete := p.NextLink, 0
	if p.DeltaLink != "" {
		link, complete = p.DeltaLink, 1
	}
	// The cursor moves first, compare-and-set from the link this page was
	// read with: a second run of the stream (a replica without the lock, a
	// manual run during a scheduled one) stops here instead of interleaving
	// its pages and sweep with ours. In PostgreSQL the row lock also orders
	// the two transactions.
	var cas sql.Result
	if prev == "" {
		cas, err = tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO sync_cursors (stream, link, round_complete, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (stream) DO NOTHING`), stream, link, complete, round)
	} else {
		cas, err = tx.ExecContext(ctx, s.db.Rebind(`UPDATE sync_cursors SET link = ?, round_complete = ?, updated_at = ? WHERE stream = ? AND link = ?`),
			link, complete, round, stream, prev)
	}
	if err != nil {
		return 0, err
	}
	if n, err := cas.RowsAffected(); err != nil || n != 1 {
		return 0, fmt.Errorf("%w (stream %s)", ErrConcurrentSync, stream)
	}
	mark := strings.SplitN(round, ":", 2)[1]
	for _, ch := range p.Changes {
		if err := s.applyChange(ctx, tx, table, cols, mark, ch); err != nil {
			return 0, err
		}
	}
	if p.DeltaLink != "" {
		if full {
			// What a full round did not see is gone from the directory.
			if _, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM `+table+` WHERE synced_at < ?`), mark); err != nil {
				return 0, err
			}
			if table == "directory_groups" {
				if _, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM directory_group_members WHERE synced_at < ?`), mark); err != nil {
					return 0, err
				}
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return len(p.Changes), nil
}

// applyChange writes one object of a delta page: a removal (either reason:
// a soft-deleted user is out of /users and of its groups as much as a
// permanently deleted one; restored, delta reports it again and it comes
// back), or its properties and its members@delta (every member in a full
// round, the changes since the previous round otherwise; the rest of the
// membership stays as it is).
func (s *syncer) applyChange(ctx context.Context, tx *sql.Tx, table string, cols map[string]string, mark string, ch graphapi.DirectoryChange) error {
	if ch.ID == "" {
		return nil
	}
	if ch.Removed {
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM `+table+` WHERE id = ?`), ch.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM directory_group_members WHERE member_id = ? OR group_id = ?`), ch.ID, ch.ID)
		return err
	}
	if err := s.upsert(ctx, tx, table, cols, mark, ch); err != nil {
		return err
	}
	for _, m := range ch.Members {
		var err error
		if m.Removed {
			_, err = tx.ExecContext(ctx, s.db.Rebind(`DELETE FROM directory_group_members WHERE group_id = ? AND member_id = ?`), ch.ID, m.ID)
		} else {
			_, err = tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO directory_group_members (group_id, member_id, member_type, synced_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (group_id, member_id) DO UPDATE SET member_type = excluded.member_type, synced_at = excluded.synced_at`),
				ch.ID, m.ID, strings.TrimPrefix(m.Type, graphTypePrefix), mark)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// upsert writes the properties the change carries (absent ones did not
// change and keep their value).
func (s *syncer) upsert(ctx context.Context, tx *sql.Tx, table string, cols map[string]string, mark string, ch graphapi.DirectoryChange) error {
	stmt, names, err := s.upsertStmt(ctx, table, cols, ch)
	if err != nil {
		return err
	}
	args := make([]any, 0, 2+len(names))
	args = append(args, ch.ID, mark)
	for _, n := range names {
		v := ch.Fields[n]
		args = append(args, sql.NullString{String: v.Text, Valid: !v.Null})
	}
	_, err = tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
	return err
}

// upsertStmt is the prepared upsert of the properties ch carries.
func (s *syncer) upsertStmt(ctx context.Context, table string, cols map[string]string, ch graphapi.DirectoryChange) (*sql.Stmt, []string, error) {
	names := make([]string, 0, len(ch.Fields))
	for k := range ch.Fields {
		if _, ok := cols[k]; ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	key := table + ":" + strings.Join(names, ",")
	stmt, err := s.stmt(ctx, key, func() string {
		c := []string{"id", "synced_at"}
		set := []string{"synced_at = excluded.synced_at"}
		for _, n := range names {
			c = append(c, cols[n])
			set = append(set, cols[n]+" = excluded."+cols[n])
		}
		return `INSERT INTO ` + table + ` (` + strings.Join(c, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(c)-1) + `)
			ON CONFLICT (id) DO UPDATE SET ` + strings.Join(set, ", ")
	})
	return stmt, names, err
}

func (s *syncer) stmt(ctx context.Context, key string, query func() string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stmts[key]; st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, s.db.Rebind(query()))
	if err != nil {
		return nil, err
	}
	s.stmts[key] = st
	return st, nil
}
