package daemon

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/internal/atomicfile"
)

// ExpiringCredentials reports the client secrets and certificates of
// applications and service principals that expire within Within, or have
// expired: rows in the database (one set per run), and a JSON and a CSV
// file in OutputDir when set.
type ExpiringCredentials struct {
	Within    time.Duration
	OutputDir string
	Now       func() time.Time
}

// Name implements Job.
func (j *ExpiringCredentials) Name() string { return "expiring-credentials" }

// Run implements Job.
func (j *ExpiringCredentials) Run(ctx context.Context, env *RunEnv) (Result, error) {
	now := clock(j.Now)
	list, err := env.Graph.ExpiringCredentials(ctx, j.Within)
	if err != nil {
		return Result{}, err
	}
	runID := newRunID(now())
	n, err := j.store(ctx, env, runID, list, now())
	if err != nil {
		return Result{Items: n}, dbErr(err)
	}
	expired := 0
	for _, c := range list {
		if c.Expired {
			expired++
		}
	}
	if j.OutputDir != "" {
		if err := writeCredentialFiles(j.OutputDir, runID, list); err != nil {
			return Result{Items: len(list)}, err
		}
	}
	verb := "credentials expire"
	if len(list) == 1 {
		verb = "credential expires"
	}
	return Result{Items: len(list), Summary: fmt.Sprintf("%d %s within %s (%d already expired); report %s",
		len(list), verb, days(j.Within), expired, runID), Details: credentialDetails(list, now(), j.OutputDir, runID)}, nil
}

func (j *ExpiringCredentials) store(ctx context.Context, env *RunEnv, runID string, list []graphapi.ExpiringCredential, now time.Time) (int, error) {
	tx, err := env.DB.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	for i, c := range list {
		if _, err := tx.ExecContext(ctx, env.DB.Rebind(`INSERT INTO credential_reports
			(run_id, object_type, object_id, app_id, display_name, credential_type, key_id, credential_name, end_date_time, expired, reported_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, object_id, key_id) DO NOTHING`),
			runID, c.ObjectType, c.ObjectID, c.AppID, c.AppName, c.Kind, c.KeyID, c.Name, timestamp(c.EndDateTime), boolInt(c.Expired), timestamp(now)); err != nil {
			return i, err
		}
		env.progress(i + 1)
	}
	return len(list), tx.Commit()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// newRunID names a run: its start time, sortable, and a random suffix
// that two replicas starting in the same second do not share.
func newRunID(t time.Time) string {
	return t.UTC().Format("20060102T150405Z") + "-" + rand.Text()
}

// writeCredentialFiles writes <run>.json and <run>.csv atomically (temp
// file, then rename) with 0644: the report holds no secret, only names and
// dates.
func writeCredentialFiles(dir, runID string, list []graphapi.ExpiringCredential) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	type row struct {
		ObjectType  string    `json:"objectType"`
		ObjectID    string    `json:"objectId"`
		AppID       string    `json:"appId"`
		DisplayName string    `json:"displayName"`
		Kind        string    `json:"credentialType"`
		KeyID       string    `json:"keyId"`
		Name        string    `json:"credentialName"`
		EndDateTime time.Time `json:"endDateTime"`
		Expired     bool      `json:"expired"`
	}
	rows := make([]row, len(list))
	for i, c := range list {
		rows[i] = row{c.ObjectType, c.ObjectID, c.AppID, c.AppName, c.Kind, c.KeyID, c.Name, c.EndDateTime, c.Expired}
	}
	js, err := json.MarshalIndent(map[string]any{"run": runID, "credentials": rows}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, runID+".json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	var buf bytesBuffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"objectType", "objectId", "appId", "displayName", "credentialType", "keyId", "credentialName", "endDateTime", "expired"})
	for _, r := range rows {
		_ = w.Write([]string{r.ObjectType, r.ObjectID, r.AppID, csvSafe(r.DisplayName), r.Kind, r.KeyID, csvSafe(r.Name),
			r.EndDateTime.UTC().Format(time.RFC3339), strconv.FormatBool(r.Expired)})
	}
	w.Flush()
	return atomicfile.Write(filepath.Join(dir, runID+".csv"), buf.b, 0o644)
}

// csvSafe defuses spreadsheet formulas in names an app owner chose
// (OWASP CSV injection).
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}

type bytesBuffer struct{ b []byte }

func (w *bytesBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// GroupSnapshot records the transitive members of each configured group and
// what changed since the previous snapshot (added / removed), in one
// transaction per group.
type GroupSnapshot struct {
	Groups []string
	Now    func() time.Time
}

// Name implements Job.
func (j *GroupSnapshot) Name() string { return "group-snapshot" }

// Run implements Job.
func (j *GroupSnapshot) Run(ctx context.Context, env *RunEnv) (Result, error) {
	now := clock(j.Now)
	total, added, removed := 0, 0, 0
	var details []string
	for _, gid := range j.Groups {
		members := map[string]string{}
		for m, err := range env.Graph.GroupMembers(ctx, gid, true) {
			if err != nil {
				return Result{Items: total}, fmt.Errorf("group %s: %w", gid, err)
			}
			if m.ID != "" {
				members[m.ID] = strings.TrimPrefix(m.Type, graphTypePrefix)
			}
			total++
			env.progress(total)
		}
		a, r, first, err := j.store(ctx, env.DB, gid, members, timestamp(now()))
		if err != nil {
			return Result{Items: total}, dbErr(err)
		}
		added, removed = added+a, removed+r
		details = append(details, snapshotDetail(gid, len(members), a, r, first))
	}
	groups := "groups"
	if len(j.Groups) == 1 {
		groups = "group"
	}
	return Result{Items: total, Summary: fmt.Sprintf("%d %s, %d members, %d added and %d removed since the last snapshot",
		len(j.Groups), groups, total, added, removed), Details: details}, nil
}

// graphTypePrefix is the namespace of Graph's @odata.type values; the
// database keeps the bare type ("user", "group").
const graphTypePrefix = "#microsoft.graph."

// store records the snapshot of group gid; first says it is the group's
// first (which records no change).
func (j *GroupSnapshot) store(ctx context.Context, db *DB, gid string, members map[string]string, at string) (added, removed int, first bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, false, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, db.Rebind(`SELECT member_id FROM group_snapshots WHERE group_id = ?`), gid)
	if err != nil {
		return 0, 0, false, err
	}
	previous := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, 0, false, err
		}
		previous[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, false, err
	}
	// The first snapshot of a group records no changes; an empty earlier
	// snapshot is still a snapshot (group_snapshot_runs says which).
	var runs int
	if err := tx.QueryRowContext(ctx, db.Rebind(`SELECT COUNT(*) FROM group_snapshot_runs WHERE group_id = ?`), gid).Scan(&runs); err != nil {
		return 0, 0, false, err
	}
	first = runs == 0
	if _, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO group_snapshot_runs (group_id, snapshot_at) VALUES (?, ?)
		ON CONFLICT (group_id) DO UPDATE SET snapshot_at = excluded.snapshot_at`), gid, at); err != nil {
		return 0, 0, false, err
	}
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if previous[id] {
			delete(previous, id)
			continue
		}
		if _, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO group_snapshots (group_id, member_id, member_type, snapshot_at) VALUES (?, ?, ?, ?)`), gid, id, members[id], at); err != nil {
			return 0, 0, false, err
		}
		if !first {
			added++
			if _, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO group_snapshot_changes (group_id, member_id, change, changed_at) VALUES (?, ?, 'added', ?)`), gid, id, at); err != nil {
				return 0, 0, false, err
			}
		}
	}
	for id := range previous {
		removed++
		if _, err := tx.ExecContext(ctx, db.Rebind(`DELETE FROM group_snapshots WHERE group_id = ? AND member_id = ?`), gid, id); err != nil {
			return 0, 0, false, err
		}
		if _, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO group_snapshot_changes (group_id, member_id, change, changed_at) VALUES (?, ?, 'removed', ?)`), gid, id, at); err != nil {
			return 0, 0, false, err
		}
	}
	return added, removed, first, tx.Commit()
}
