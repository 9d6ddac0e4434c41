package identity

import (
	"strings"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

// Several tenants on one server: an app is registered in one tenant (its
// home) and, when multi-tenant, gets a service principal in another when a
// user there consents. A user signs in with their home account; in another
// tenant they are that tenant's B2B guest. Tokens name the tenant they are
// issued in (iss, tid); the signing keys are the same for every tenant, as
// Entra's are.

// tenants are the hosted tenants' directories: dirs[0] is the home tenant
// (the manifest's), the others follow. While Provider.mu is held, all are
// locked (txs) and tx is the one the request being served is for.
type tenants struct {
	dirs []*directory.Directory
	tx   directory.Tx
	txs  map[string]directory.Tx // by tenant id
}

// lockAll takes every directory's lock, home first (always in this order),
// and enters the home tenant.
func (ts *tenants) lockAll() directory.Tx {
	for _, d := range ts.dirs {
		ts.txs[d.TenantID()] = d.Lock()
	}
	ts.tx = ts.txs[ts.dirs[0].TenantID()]
	return ts.tx
}

func (ts *tenants) unlockAll() {
	for i := len(ts.dirs) - 1; i >= 0; i-- {
		ts.txs[ts.dirs[i].TenantID()].Unlock()
	}
	clear(ts.txs)
	ts.tx = directory.Tx{}
}

// enter makes tenantID's directory the one tx reads; false (tx unchanged)
// when the server hosts no such tenant.
func (ts *tenants) enter(tenantID string) bool {
	tx, ok := ts.txs[tenantID]
	if ok {
		ts.tx = tx
	}
	return ok
}

// registration finds the app registration clientID names in any hosted
// tenant (its home object, never a provisioned service principal). Caller
// holds the lock.
func (ts *tenants) registration(clientID string) *directory.App {
	for _, d := range ts.dirs {
		if a := ts.txs[d.TenantID()].App(clientID); a != nil && a.Registration() == a {
			return a
		}
	}
	return nil
}

func appNotFound(clientID, domain string) *aadError {
	return newAADError(400, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, domain)
}

// authorizeClient is the app an authorize request is for, as the tenant of
// the request sees it, and enters that tenant (a specific one). On common
// and organizations only a multi-tenant app is allowed (AADSTS50194); on
// consumers, none of the dev tenant's (AADSTS9002332). In a tenant where a
// multi-tenant app has no service principal yet, it is the registration:
// consent provisions it. Caller holds the lock.
func (ts *tenants) authorizeClient(t tenantRef, clientID string) (*directory.App, *aadError) {
	if t.id != "" {
		ts.enter(t.id)
		if a := ts.tx.App(clientID); a != nil {
			return a, nil
		}
		if reg := ts.registration(clientID); reg != nil && reg.MultiTenant() {
			return reg, nil
		}
		return nil, appNotFound(clientID, ts.tx.Domain())
	}
	reg := ts.registration(clientID)
	switch {
	case reg == nil:
		return nil, appNotFound(clientID, t.segment)
	case t.consumers:
		return nil, onlyOrganizations(reg)
	case !reg.MultiTenant():
		return nil, notMultiTenant(reg)
	}
	return reg, nil
}

// homeAccount finds the account username signs in with, in whichever
// hosted tenant holds it: the user and their tenant's id. Guests have no
// account where they are guests. Caller holds the lock.
func (ts *tenants) homeAccount(username string) (*directory.User, string) {
	for _, d := range ts.dirs {
		if u := ts.txs[d.TenantID()].UserByUPN(username); u != nil && u.UserType != "Guest" {
			return u, d.TenantID()
		}
	}
	return nil, ""
}

// userIn is who the home account (home, tenant homeTenant) is in tenant:
// the same user at home, the guest elsewhere, nil when they are neither.
func (ts *tenants) userIn(tenant, homeTenant string, home *directory.User) *directory.User {
	tx, ok := ts.txs[tenant]
	if !ok {
		return nil
	}
	return tx.UserByHomeAccount(homeTenant, home.UserPrincipalName)
}

// notInTenant is AADSTS50020: the account is neither a member nor a guest of
// the tenant the app is used in.
func notInTenant(username, homeTenant string, tx directory.Tx, client *directory.App) string {
	return "AADSTS50020: User account '" + username + "' from identity provider 'https://sts.windows.net/" + homeTenant +
		"/' does not exist in tenant '" + tx.Domain() + "' and cannot access the application '" + client.AppID + "'(" +
		client.DisplayName + ") in that tenant. The account needs to be added as an external user in the tenant first. " +
		"Sign out and sign in again with a different Microsoft Entra user account."
}

// sessionUser is the account an SSO session signed in (in its home tenant).
func (ts *tenants) sessionUser(sess *ssoSession) *directory.User {
	if tx, ok := ts.txs[sess.tenantID]; ok {
		return tx.User(sess.userID)
	}
	return nil
}

// sessionIn is who the SSO session's account is in the request's tenant
// (its home tenant on common and organizations), entering that tenant; nil
// when the account has no user there.
func (ts *tenants) sessionIn(req *authRequest, sess *ssoSession) *directory.User {
	home := ts.sessionUser(sess)
	if home == nil {
		return nil
	}
	tenant := req.tenantID
	if tenant == "" {
		tenant = sess.tenantID
	}
	u := ts.userIn(tenant, sess.tenantID, home)
	if u != nil {
		ts.enter(tenant)
		req.tenantID = tenant
	}
	return u
}

// isGuest: u is a B2B guest here; home is the account's address.
func isGuest(u *directory.User) bool { return u.UserType == "Guest" && u.HomeTenantID != "" }

// homeIssuer is the v1 issuer of a guest's home tenant: their idp claim.
func homeIssuer(u *directory.User) string {
	return "https://sts.windows.net/" + strings.ToLower(u.HomeTenantID) + "/"
}
