package daemon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/entrakit/entrakit/graphapi"
)

// maxDetails bounds the lines a run lists for a person; the report files
// and the database have the rest.
const maxDetails = 20

// credentialDetails lists the credentials a report found, soonest first as
// Graph's list is, then where the report files are.
func credentialDetails(list []graphapi.ExpiringCredential, now time.Time, dir, runID string) []string {
	var out []string
	for i, c := range list {
		if i == maxDetails {
			out = append(out, fmt.Sprintf("... and %d more", len(list)-i))
			break
		}
		kind := "certificate"
		if c.Kind == "password" {
			kind = "client secret"
		}
		when := c.EndDateTime.UTC().Format("2006-01-02")
		switch days := int(math.Ceil(c.EndDateTime.Sub(now).Hours() / 24)); {
		case c.Expired:
			when = "expired " + when
		case days == 1:
			when = "expires " + when + " (within a day)"
		default:
			when = fmt.Sprintf("expires %s (in %d days)", when, days)
		}
		out = append(out, fmt.Sprintf("%s (%s): %s %q %s", printable(c.AppName), c.ObjectType, kind, c.Name, when))
	}
	if dir != "" {
		out = append(out, "report: "+filepath.Join(dir, runID)+".json and .csv")
	}
	return out
}

// printable keeps a name an app owner chose from driving the terminal
// it is printed on: control characters become U+FFFD.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return unicode.ReplacementChar
		}
		return r
	}, s)
}

// days says a window in days when it is whole days (the job file's
// within_days), as a duration otherwise.
func days(d time.Duration) string {
	if d >= 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// snapshotDetail says what changed in one group.
func snapshotDetail(gid string, members, added, removed int, first bool) string {
	change := fmt.Sprintf("%d added and %d removed since the last snapshot", added, removed)
	if first {
		change = "first snapshot"
	}
	return fmt.Sprintf("group %s: %d members (%s)", gid, members, change)
}

// syncDetails says what the database holds after a directory sync, and
// whether its last round was a full one or a delta one (the cursor's
// updated_at names the round: "full:..." or "delta:...").
func syncDetails(ctx context.Context, db *DB) ([]string, error) {
	var users, groups, members int
	for _, q := range []struct {
		table string
		n     *int
	}{{"directory_users", &users}, {"directory_groups", &groups}, {"directory_group_members", &members}} {
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+q.table).Scan(q.n); err != nil {
			return nil, err
		}
	}
	line := fmt.Sprintf("database: %d users, %d groups, %d group memberships", users, groups, members)
	var round string
	err := db.QueryRowContext(ctx, db.Rebind(`SELECT updated_at FROM sync_cursors WHERE stream = ?`), "users").Scan(&round)
	switch kind, _, _ := strings.Cut(round, ":"); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	case kind == "full":
		line += "; this round listed everything (full round)"
	case kind == "delta":
		line += "; this round read the changes since the last (delta)"
	}
	return []string{line}, nil
}
