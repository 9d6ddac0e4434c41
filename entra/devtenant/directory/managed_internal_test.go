package directory

import (
	"testing"
	"time"
)

// AddPassword: a secret Graph lists with its end on the tenant's clock, and
// that authenticates, next to the one generated at start.
func TestAddPassword(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	appID := "11111111-2222-4333-8444-555555555555"
	m := &Manifest{Applications: []Application{{AppID: appID, DisplayName: "daemon",
		PasswordCredentials: []PasswordCredential{{DisplayName: "start", EndDateTime: "2027-05-25T00:00:00Z"}}}}}
	d, err := New(Config{Manifest: m, TenantID: DefaultTenantID, Domain: DefaultDomain, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	before := d.Applications()[0]
	atStart := d.ClientSecret(appID)
	secret, err := d.AddPassword(appID, "rotation", 14*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got := d.Applications()[0].PasswordCredentials
	if len(got) != 2 || got[1] != (PasswordCredential{DisplayName: "rotation", EndDateTime: "2026-12-20T10:00:00Z"}) {
		t.Errorf("password credentials %+v", got)
	}
	if len(before.PasswordCredentials) != 1 {
		t.Errorf("an earlier copy changed: %+v", before.PasswordCredentials)
	}
	tx := d.Lock()
	app := tx.App(appID)
	tx.Unlock()
	if secret == "" || secret == atStart || !app.CheckSecret(secret) || !app.CheckSecret(atStart) {
		t.Errorf("the new secret and the start's must both authenticate")
	}
	if d.ClientSecret(appID) != atStart {
		t.Errorf("ClientSecret changed")
	}
	if _, err := d.AddPassword("99999999-2222-4333-8444-555555555555", "x", time.Hour); err == nil {
		t.Errorf("AddPassword on an unknown app succeeded")
	}
	if _, err := d.AddPassword(appID, "x", 0); err == nil {
		t.Errorf("AddPassword without a lifetime succeeded")
	}
}
