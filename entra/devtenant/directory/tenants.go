package directory

import "strings"

// The dev tenant hosts more than one tenant on one server: Contoso (the
// manifest's apps, the personas) and Fabrikam, the guest's home, with its own
// people. Each is a Directory; these are the operations that cross them.

// Domain is the tenant's initial domain (contoso.onmicrosoft.com).
func (tx Tx) Domain() string { return tx.d.domain }

// MultiTenant reports whether the app's registration lets users of other
// organizations sign in (signInAudience AzureADMultipleOrgs, or with
// personal accounts too).
func (a *App) MultiTenant() bool {
	switch a.SignInAudience {
	case "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount":
		return true
	}
	return false
}

// Provision creates the service principal of a multi-tenant app registered
// in another tenant, as Entra does when a user or administrator of this
// tenant first consents. It shares the registration (redirect URIs,
// credentials, API); its object id is this tenant's.
func (tx Tx) Provision(registration *App) *App {
	if sp := tx.App(registration.AppID); sp != nil {
		return sp
	}
	sp := &App{
		Application: registration.Application,
		SPID:        DeterministicID("sp:" + tx.d.tenantID + ":" + strings.ToLower(registration.AppID)),
		home:        registration,
	}
	sp.Application.FederatedIdentityCredentials = nil // registered on the home object only
	tx.d.apps[strings.ToLower(registration.AppID)] = sp
	return sp
}

// Registration is the app registration behind a: itself, or the home
// tenant's for a provisioned service principal.
func (a *App) Registration() *App {
	if a.home != nil {
		return a.home
	}
	return a
}

// UserByHomeAccount finds who signs in as the account upn of tenant
// homeTenant: that user when homeTenant is this tenant, else this tenant's
// guest invited with that address (B2B). nil when there is none.
func (tx Tx) UserByHomeAccount(homeTenant, upn string) *User {
	if homeTenant == tx.d.tenantID {
		return tx.UserByUPN(upn)
	}
	for _, u := range tx.d.users {
		if u.UserType == "Guest" && u.HomeTenantID == homeTenant && strings.EqualFold(u.Mail, upn) {
			return u
		}
	}
	return nil
}

// Guests lists the tenant's B2B guests, by UPN.
func (d *Directory) Guests() []User {
	tx := d.Lock()
	defer tx.Unlock()
	var out []User
	for _, u := range sortedBy(d.users, userUPN) {
		if u.UserType == "Guest" {
			out = append(out, *u)
		}
	}
	return out
}
