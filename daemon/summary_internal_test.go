package daemon

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/entrakit/entrakit/graphapi"
)

func TestCredentialDetails(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	list := []graphapi.ExpiringCredential{
		{ObjectType: "application", AppName: "old\x1b[2Japp", Kind: "password", Name: "s\x07", EndDateTime: now.Add(-48 * time.Hour), Expired: true},
		{ObjectType: "servicePrincipal", AppName: "sp", Kind: "key", Name: "CN=sp", EndDateTime: now.Add(3 * time.Hour)},
		{ObjectType: "application", AppName: "daemon", Kind: "password", Name: "rotation", EndDateTime: now.Add(14 * 24 * time.Hour)},
	}
	got := credentialDetails(list, now.Add(time.Second), "reports", "RUN")
	want := []string{
		`old` + "\uFFFD" + `[2Japp (application): client secret "s\a" expired 2026-12-04`,
		`sp (servicePrincipal): certificate "CN=sp" expires 2026-12-06 (within a day)`,
		`daemon (application): client secret "rotation" expires 2026-12-20 (in 14 days)`,
		"report: " + filepath.Join("reports", "RUN") + ".json and .csv",
	}
	if !slices.Equal(got, want) {
		t.Errorf("details:\n%q\nwant\n%q", got, want)
	}

	var many []graphapi.ExpiringCredential
	for i := range maxDetails + 5 {
		many = append(many, graphapi.ExpiringCredential{AppName: fmt.Sprint(i), Kind: "key", EndDateTime: now.Add(time.Hour)})
	}
	got = credentialDetails(many, now, "", "RUN")
	if len(got) != maxDetails+1 || got[maxDetails] != "... and 5 more" {
		t.Errorf("%d lines, the last %q", len(got), got[len(got)-1])
	}
}

func TestDays(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * 24 * time.Hour: "30 days", 0: "0 days", 36 * time.Hour: "36h0m0s"} {
		if got := days(d); got != want {
			t.Errorf("days(%v) = %q, want %q", d, got, want)
		}
	}
}
