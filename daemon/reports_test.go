package daemon_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/infra"
)

// credentialsManifest is the app registrations with credentials added: an
// expired secret whose name is a spreadsheet formula, a certificate that
// expires in ten days on an app whose name starts with "+", and a secret
// that expires in 2099 (outside any window).
func credentialsManifest(t testing.TB, now time.Time) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(infra.AppRegistration(), &m); err != nil {
		t.Fatal(err)
	}
	for _, a := range m["applications"].([]any) {
		app := a.(map[string]any)
		switch app["uniqueName"] {
		case "entrakit-webapp":
			app["passwordCredentials"] = append(app["passwordCredentials"].([]any),
				map[string]any{"displayName": `=HYPERLINK("https://evil.example","click")`, "endDateTime": now.Add(-48 * time.Hour).UTC().Format(time.RFC3339)})
		case "entrakit-cli":
			app["displayName"] = "+cli formula"
			app["keyCredentials"] = []any{map[string]any{"displayName": "@cli cert", "type": "AsymmetricX509Cert", "usage": "Verify",
				"endDateTime": now.Add(10 * 24 * time.Hour).UTC().Format(time.RFC3339)}}
		case "entrakit-spa":
			app["passwordCredentials"] = []any{map[string]any{"displayName": "far future", "endDateTime": "2099-01-01T00:00:00Z"}}
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// credRow is one reported credential, as the DB, the JSON and the CSV hold it.
type credRow struct {
	ObjectType, AppID, DisplayName, Kind, Name string
	End                                        time.Time
	Expired                                    bool
}

func (r credRow) String() string {
	return fmt.Sprintf("%s %s %q %s %q %s expired=%v", r.ObjectType, r.AppID, r.DisplayName, r.Kind, r.Name, r.End.Format(time.RFC3339), r.Expired)
}

func sortRows(rows []credRow) []credRow {
	sort.Slice(rows, func(i, j int) bool { return rows[i].String() < rows[j].String() })
	return rows
}

// wantCredentials are the registrations' credentials ending before now+within.
func wantCredentials(t testing.TB, srv *devtenant.Server, now time.Time, within time.Duration) []credRow {
	t.Helper()
	var out []credRow
	add := func(a devtenant.Application, kind, name, end string) {
		e, err := time.Parse(time.RFC3339, end)
		if err != nil {
			t.Fatal(err)
		}
		if !e.After(now.Add(within)) {
			out = append(out, credRow{"application", a.AppID, a.DisplayName, kind, name, e.UTC(), !e.After(now)})
		}
	}
	for _, a := range srv.Applications() {
		for _, p := range a.PasswordCredentials {
			add(a, "password", p.DisplayName, p.EndDateTime)
		}
		for _, k := range a.KeyCredentials {
			add(a, "key", k.DisplayName, k.EndDateTime)
		}
	}
	return sortRows(out)
}

// isFormula: a cell a spreadsheet would evaluate.
func isFormula(s string) bool { return s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) }

func TestExpiringCredentials(t *testing.T) {
	t.Parallel()
	now := time.Now()
	srv := devtenanttest.Start(t, func(o *devtenant.Options) { o.Manifest = credentialsManifest(t, now) })
	g := newGraph(t, srv, nil, nil)

	for _, tc := range []struct {
		days, want, expired int
	}{
		{0, 1, 1},    // the expired secret only
		{30, 2, 1},   // and the certificate of the "+cli formula" app
		{3650, 5, 1}, // and the manifest's secrets and certificate (2027)
	} {
		t.Run(fmt.Sprintf("within %d days", tc.days), func(t *testing.T) {
			t.Parallel()
			want := wantCredentials(t, srv, now, time.Duration(tc.days)*24*time.Hour)
			if len(want) != tc.want {
				t.Fatalf("the manifest has %d credentials in the window, the test expects %d: %v", len(want), tc.want, want)
			}
			out := filepath.Join(t.TempDir(), "reports")
			db := openSQLite(t)
			sch := &daemon.Scheduler{Config: mustConfig(t, fmt.Sprintf(`{"jobs":[{"name":"expiring-credentials","cron":"0 6 * * *",
				"settings":{"within_days":%d,"output_dir":%q}}]}`, tc.days, out)), Graph: g, DB: db, Logger: discardLogger()}
			res, err := sch.RunOnce(context.Background(), "expiring-credentials", nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Items != tc.want || !strings.Contains(res.Summary, map[bool]string{true: "1 credential expires", false: fmt.Sprintf("%d credentials expire", tc.want)}[tc.want == 1]) ||
				!strings.Contains(res.Summary, fmt.Sprintf("(%d already expired)", tc.expired)) {
				t.Errorf("result %d items, %q", res.Items, res.Summary)
			}
			// For a person: a line per credential, then the report files.
			if len(res.Details) != tc.want+1 || !strings.HasPrefix(res.Details[tc.want], "report: "+out+string(filepath.Separator)) {
				t.Errorf("details %q", res.Details)
			}
			for _, w := range want {
				line := fmt.Sprintf("%s (application): ", w.DisplayName)
				if w.Expired {
					line += "client secret " + strconv.Quote(w.Name) + " expired " + w.End.Format("2006-01-02")
				}
				if !slices.ContainsFunc(res.Details, func(d string) bool { return strings.HasPrefix(d, line) && strings.Contains(d, strconv.Quote(w.Name)) }) {
					t.Errorf("no detail line %q... for %v in %q", line, w, res.Details)
				}
			}

			// The database: one set of rows for the run.
			rows, err := db.Query(`SELECT run_id, object_type, app_id, display_name, credential_type, credential_name, end_date_time, expired FROM credential_reports`)
			if err != nil {
				t.Fatal(err)
			}
			var fromDB []credRow
			runs := map[string]bool{}
			for rows.Next() {
				var r credRow
				var run, end string
				var expired int
				if err := rows.Scan(&run, &r.ObjectType, &r.AppID, &r.DisplayName, &r.Kind, &r.Name, &end, &expired); err != nil {
					t.Fatal(err)
				}
				if r.End, err = time.Parse(time.RFC3339Nano, end); err != nil {
					t.Errorf("end_date_time %q: %v", end, err)
				}
				r.End, r.Expired, runs[run] = r.End.UTC(), expired == 1, true
				fromDB = append(fromDB, r)
			}
			rows.Close()
			if !slices.Equal(sortRows(fromDB), want) {
				t.Errorf("database rows:\n%v\nwant:\n%v", fromDB, want)
			}
			if len(runs) != 1 {
				t.Fatalf("%d run ids in the database", len(runs))
			}
			runID := slices.Collect(maps.Keys(runs))[0]

			// The files: <run>.json and <run>.csv, 0644, nothing else.
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
				if info, _ := e.Info(); info.Mode().Perm() != 0o644 {
					t.Errorf("%s mode %v", e.Name(), info.Mode().Perm())
				}
			}
			if !slices.Equal(names, []string{runID + ".csv", runID + ".json"}) {
				t.Errorf("output files %q, want the run's .csv and .json", names)
			}

			run, fromJSON := jsonReport(t, filepath.Join(out, runID+".json"))
			if run != runID || !slices.Equal(sortRows(fromJSON), want) {
				t.Errorf("JSON run %q rows:\n%v\nwant run %q:\n%v", run, fromJSON, runID, want)
			}
			if fromCSV := csvReport(t, filepath.Join(out, runID+".csv")); !slices.Equal(sortRows(fromCSV), want) {
				t.Errorf("CSV rows:\n%v\nwant:\n%v", fromCSV, want)
			}

			// A second run adds its own set of rows.
			if _, err := sch.RunOnce(context.Background(), "expiring-credentials", nil); err != nil {
				t.Fatal(err)
			}
			var n, distinct int
			db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT run_id) FROM credential_reports`).Scan(&n, &distinct)
			if n != 2*tc.want || distinct != 2 {
				t.Errorf("after two runs: %d rows in %d runs", n, distinct)
			}
		})
	}
}

// reportColumns are a reported credential's fields: the CSV's header, in
// order, and the keys of each credential in the JSON.
var reportColumns = []string{"objectType", "objectId", "appId", "displayName", "credentialType", "keyId", "credentialName", "endDateTime", "expired"}

// reportRow reads a credential of a report file from its fields, in
// reportColumns' order.
func reportRow(t testing.TB, fields []string) credRow {
	t.Helper()
	if len(fields) != len(reportColumns) {
		t.Fatalf("credential %q: %d fields, want %d", fields, len(fields), len(reportColumns))
	}
	if fields[1] == "" || fields[5] == "" {
		t.Errorf("credential %q has no object or key id", fields)
	}
	end, err := time.Parse(time.RFC3339, fields[7])
	if err != nil {
		t.Error(err)
	}
	return credRow{fields[0], fields[2], fields[3], fields[4], fields[6], end.UTC(), fields[8] == "true"}
}

// jsonReport reads a <run>.json: its run id and its credentials, which it
// lists soonest first.
func jsonReport(t testing.TB, path string) (run string, rows []credRow) {
	t.Helper()
	var doc struct {
		Run         string           `json:"run"`
		Credentials []map[string]any `json:"credentials"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for i, c := range doc.Credentials {
		fields := make([]string, len(reportColumns))
		for j, key := range reportColumns {
			v, ok := c[key]
			if !ok {
				t.Errorf("credential %d has no %q", i, key)
			}
			fields[j] = fmt.Sprint(v)
		}
		if _, ok := c["expired"].(bool); !ok {
			t.Errorf("credential %d: expired is a %T, want a boolean", i, c["expired"])
		}
		r := reportRow(t, fields)
		if i > 0 && r.End.Before(rows[i-1].End) {
			t.Errorf("credential %d ends before the one listed before it: want soonest first", i)
		}
		rows = append(rows, r)
	}
	return doc.Run, rows
}

// csvReport reads a <run>.csv: a header of reportColumns, then a record a
// credential, with no cell that a spreadsheet would run as a formula.
func csvReport(t testing.TB, path string) []credRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) == 0 || !slices.Equal(records[0], reportColumns) {
		t.Fatalf("CSV header %q", records[:min(1, len(records))])
	}
	// Defused cells carry a leading quote; undo it to compare.
	undo := func(s string) string {
		if u, ok := strings.CutPrefix(s, "'"); ok && isFormula(u) {
			return u
		}
		return s
	}
	var rows []credRow
	for _, rec := range records[1:] {
		for i, cell := range rec {
			if isFormula(cell) {
				t.Errorf("CSV cell %d %q would run as a formula in a spreadsheet", i, cell)
			}
		}
		r := reportRow(t, rec)
		r.DisplayName, r.Name = undo(r.DisplayName), undo(r.Name)
		rows = append(rows, r)
	}
	return rows
}

// snapshotChange is one row of group_snapshot_changes.
type snapshotChange struct{ Group, Member, Change string }

func TestGroupSnapshot(t *testing.T) {
	t.Parallel()
	srv := startTenant(t, 50)
	groupID := func(name string) string {
		for _, g := range srv.Groups() {
			if g.DisplayName == name {
				return g.ID
			}
		}
		t.Fatalf("no group %q", name)
		return ""
	}
	allCompany, engineering := groupID("All Company"), groupID("Synthetic Engineering")
	members := func() map[string][]string {
		out := map[string][]string{}
		for _, g := range srv.Groups() {
			if g.ID == allCompany || g.ID == engineering {
				out[g.ID] = slices.Sorted(slices.Values(g.Members))
			}
		}
		return out
	}
	db := openSQLite(t)
	sch := &daemon.Scheduler{Config: mustConfig(t, `{"jobs":[{"name":"group-snapshot","every":"1h","settings":{"groups":["`+allCompany+`","`+engineering+`"]}}]}`),
		Graph: newGraph(t, srv, nil, nil), DB: db, Logger: discardLogger()}
	deleteMembers := func(n int) func() {
		return func() {
			m := members()[engineering]
			for _, id := range m[:min(n, len(m))] {
				if err := srv.DeleteUser(id); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	seen := 0 // change rows already checked

	for _, step := range []struct {
		name    string
		change  func()
		first   bool
		changes int // how many the scenario makes
	}{
		{"first snapshot records members, no changes", func() {}, true, 0},
		// GenerateDirectory(60) adds user000050..59: user000050 joins
		// Engineering; then one member is deleted.
		{"a member deleted, one added", func() { srv.GenerateDirectory(60); deleteMembers(1)() }, false, 2},
		{"nothing changed", func() {}, false, 0},
		{"every member removed", deleteMembers(1000), false, 5},
		// Deleted users wait in the deleted items; once permanently deleted,
		// GenerateDirectory(70) makes them again and adds user000060..69:
		// Engineering has members again, all added since the last snapshot
		// (which recorded the group empty).
		{"members join the emptied group", func() {
			for _, du := range srv.DeletedUsers() {
				if err := srv.PermanentlyDeleteUser(du.ID); err != nil {
					t.Fatal(err)
				}
			}
			srv.GenerateDirectory(70)
		}, false, 7},
	} {
		t.Run(step.name, func(t *testing.T) {
			before := members()
			step.change()
			after := members()
			var want []snapshotChange
			total := 0
			for _, g := range []string{allCompany, engineering} {
				total += len(after[g])
				if step.first {
					continue
				}
				for _, id := range after[g] {
					if !slices.Contains(before[g], id) {
						want = append(want, snapshotChange{g, id, "added"})
					}
				}
				for _, id := range before[g] {
					if !slices.Contains(after[g], id) {
						want = append(want, snapshotChange{g, id, "removed"})
					}
				}
			}
			if len(want) != step.changes {
				t.Fatalf("the scenario made %d changes, not %d: %v", len(want), step.changes, want)
			}
			res, err := sch.RunOnce(context.Background(), "group-snapshot", nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Items != total {
				t.Errorf("%d members read, the groups have %d", res.Items, total)
			}
			for i, g := range []string{allCompany, engineering} {
				what := "first snapshot"
				if !step.first {
					what = " since the last snapshot"
				}
				if len(res.Details) != 2 || !strings.HasPrefix(res.Details[i], fmt.Sprintf("group %s: %d members (", g, len(after[g]))) ||
					!strings.Contains(res.Details[i], what) {
					t.Errorf("details %q: want a line per group, %s first", res.Details, g)
				}
			}

			// The snapshot is the groups' current membership.
			for _, g := range []string{allCompany, engineering} {
				rows, err := db.Query(`SELECT member_id, member_type FROM group_snapshots WHERE group_id = ? ORDER BY member_id`, g)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for rows.Next() {
					var id, typ string
					rows.Scan(&id, &typ)
					if typ != "user" {
						t.Errorf("member %s of type %q", id, typ)
					}
					got = append(got, id)
				}
				rows.Close()
				if !slices.Equal(got, after[g]) {
					t.Errorf("snapshot of %s: %d members, the group has %d", g, len(got), len(after[g]))
				}
			}

			// The changes since the previous snapshot, and only those.
			rows, err := db.Query(`SELECT group_id, member_id, change FROM group_snapshot_changes ORDER BY rowid`)
			if err != nil {
				t.Fatal(err)
			}
			var all []snapshotChange
			for rows.Next() {
				var c snapshotChange
				rows.Scan(&c.Group, &c.Member, &c.Change)
				all = append(all, c)
			}
			rows.Close()
			got := all[min(seen, len(all)):]
			seen = len(all)
			key := func(a, b snapshotChange) int {
				return strings.Compare(a.Group+a.Member+a.Change, b.Group+b.Member+b.Change)
			}
			slices.SortFunc(got, key)
			slices.SortFunc(want, key)
			if !slices.Equal(got, want) {
				t.Errorf("changes recorded %v, want %v", got, want)
			}
			added, removed := 0, 0
			for _, c := range want {
				if c.Change == "added" {
					added++
				} else {
					removed++
				}
			}
			if s := fmt.Sprintf("%d added and %d removed", added, removed); !strings.Contains(res.Summary, s) {
				t.Errorf("summary %q, want %q", res.Summary, s)
			}
		})
	}
}
