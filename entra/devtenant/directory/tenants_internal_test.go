package directory

import "testing"

// TestProvision: a multi-tenant app's service principal in another tenant
// shares the registration's credentials and owner, with its own object id.
func TestProvision(t *testing.T) {
	m := &Manifest{Applications: []Application{{AppID: "11111111-2222-4333-8444-555555555555", DisplayName: "multi",
		SignInAudience: "AzureADMultipleOrgs", PasswordCredentials: []PasswordCredential{{DisplayName: "s"}}}}}
	home, err := New(Config{Manifest: m, TenantID: DefaultTenantID, Domain: DefaultDomain})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{Manifest: &Manifest{}, TenantID: GuestHomeTenantID, Domain: "fabrikam.onmicrosoft.com", GuestHome: true})
	if err != nil {
		t.Fatal(err)
	}
	htx := home.Lock()
	reg := htx.App(m.Applications[0].AppID)
	htx.Unlock()
	if !reg.MultiTenant() || reg.Registration() != reg || reg.OwnerTenantID() != DefaultTenantID {
		t.Fatalf("registration: multi %v owner %s", reg.MultiTenant(), reg.OwnerTenantID())
	}
	tx := other.Lock()
	defer tx.Unlock()
	if tx.App(reg.AppID) != nil {
		t.Fatal("the app has a service principal in Fabrikam before any consent")
	}
	sp := tx.Provision(reg)
	if tx.Provision(reg) != sp || tx.App(reg.AppID) != sp {
		t.Error("Provision is not idempotent")
	}
	if sp.Registration() != reg || sp.OwnerTenantID() != DefaultTenantID || sp.SPID == reg.SPID {
		t.Errorf("service principal: registration %v owner %s id %s (home's %s)", sp.Registration() == reg, sp.OwnerTenantID(), sp.SPID, reg.SPID)
	}
	if !sp.CheckSecret(home.ClientSecret(reg.AppID)) {
		t.Error("the service principal does not accept the registration's secret")
	}
	if u := tx.UserByHomeAccount(GuestHomeTenantID, "kai@fabrikam.com"); u == nil || u.UserType != "Member" {
		t.Errorf("Fabrikam's member kai: %+v", u)
	}
}
