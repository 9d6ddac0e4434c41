package directory

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

const (
	// devSubscriptionID is the (fictitious) Azure subscription the dev
	// tenant's managed identities belong to.
	devSubscriptionID = "0b8e6f2a-4c1d-4e9f-a7b3-5d2c8e1f0a64"
	devResourceGroup  = "entrakit-dev"
	// SystemIdentityHost is the App Service app that owns the
	// system-assigned identity: its name is the identity's display name.
	SystemIdentityHost = "entrakit-dev-app"
)

// miDefaultGraphRoles are the Graph application permissions every managed
// identity of the dev tenant is granted, like the daemon app.
var miDefaultGraphRoles = []string{"User.Read.All", "GroupMember.Read.All", "Application.Read.All"}

// ManagedIdentity is a managed identity's service principal. Its App holds
// AppID = client id, DisplayName and SPID = object id, so tokens are minted
// for it exactly as for an app's service principal.
type ManagedIdentity struct {
	App        *App
	ResourceID string // its Azure resource id (xms_mirid)
	System     bool   // system-assigned
}

func newManagedIdentity(name, resourceID string, system bool) *ManagedIdentity {
	key := "mi:" + strings.ToLower(resourceID)
	return &ManagedIdentity{
		App:        &App{Application: Application{AppID: DeterministicID(key + ":appid"), DisplayName: name}, SPID: DeterministicID(key + ":sp")},
		ResourceID: resourceID, System: system,
	}
}

// initManagedIdentities creates the system-assigned identity and grants it
// its Graph roles. Called by New.
func (d *Directory) initManagedIdentities() {
	rid := "/subscriptions/" + devSubscriptionID + "/resourceGroups/" + devResourceGroup + "/providers/Microsoft.Web/sites/" + SystemIdentityHost
	mi := newManagedIdentity(SystemIdentityHost, rid, true)
	d.managed = []*ManagedIdentity{mi}
	Tx{d}.grantMIDefaults(mi)
}

func (tx Tx) grantMIDefaults(mi *ManagedIdentity) {
	for _, r := range miDefaultGraphRoles {
		tx.addAppRole(mi.App.AppID, GraphAppID, GraphResource.Roles[strings.ToLower(r)])
	}
}

// ManagedIdentities lists the managed identities; [0] is the
// system-assigned one. Read only.
func (tx Tx) ManagedIdentities() []*ManagedIdentity { return tx.d.managed }

// ManagedIdentity finds a managed identity by client id.
func (tx Tx) ManagedIdentity(clientID string) *ManagedIdentity {
	for _, mi := range tx.d.managed {
		if strings.EqualFold(mi.App.AppID, clientID) {
			return mi
		}
	}
	return nil
}

// AddUserAssignedIdentity adds a user-assigned managed identity named name
// (an Azure resource name: letters, digits, '-' and '_', 3 to 128
// characters), with the same Graph application permissions as the
// system-assigned one. Its ids derive from the name: the same on every start.
func (d *Directory) AddUserAssignedIdentity(name string) (ManagedIdentity, error) {
	if len(name) < 3 || len(name) > 128 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" ||
		strings.IndexAny(name[:1], "-_") == 0 {
		return ManagedIdentity{}, fmt.Errorf("devtenant: AddUserAssignedIdentity: %q is not a valid resource name", name)
	}
	rid := "/subscriptions/" + devSubscriptionID + "/resourceGroups/" + devResourceGroup + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
	tx := d.Lock()
	defer tx.Unlock()
	for _, mi := range d.managed {
		if strings.EqualFold(mi.ResourceID, rid) {
			return ManagedIdentity{}, fmt.Errorf("devtenant: AddUserAssignedIdentity: %s already exists", name)
		}
	}
	mi := newManagedIdentity(name, rid, false)
	d.managed = append(d.managed, mi)
	tx.grantMIDefaults(mi)
	return *mi, nil
}

// SystemAssignedIdentity is the tenant's system-assigned managed identity.
func (d *Directory) SystemAssignedIdentity() ManagedIdentity {
	tx := d.Lock()
	defer tx.Unlock()
	return *d.managed[0]
}

// GrantConsent records delegated consent of userID ("" = admin consent for
// the whole tenant) for client to the given scopes of resource (an app id,
// GraphAppID for Microsoft Graph).
func (d *Directory) GrantConsent(client, resourceAppID, userID string, scopes ...string) error {
	tx := d.Lock()
	defer tx.Unlock()
	if tx.App(client) == nil {
		return fmt.Errorf("devtenant: no app %s", client)
	}
	res := tx.ResourceByAppID(resourceAppID)
	if res == nil {
		return fmt.Errorf("devtenant: no resource %s", resourceAppID)
	}
	for _, sc := range scopes {
		if _, ok := res.Scopes[strings.ToLower(sc)]; !ok {
			return fmt.Errorf("devtenant: %s has no delegated permission %q", res.Name, sc)
		}
	}
	tx.AddGrant(client, res.AppID, userID, scopes...)
	return nil
}

// GrantAppRole grants an application permission (app role) of resource (an
// app id, GraphAppID for Microsoft Graph) to client, as admin consent does.
// client may also be a managed identity's client id.
func (d *Directory) GrantAppRole(client, resourceAppID, role string) error {
	tx := d.Lock()
	defer tx.Unlock()
	if tx.App(client) == nil && tx.ManagedIdentity(client) == nil {
		return fmt.Errorf("devtenant: no app %s", client)
	}
	res := tx.ResourceByAppID(resourceAppID)
	if res == nil {
		return fmt.Errorf("devtenant: no resource %s", resourceAppID)
	}
	v, ok := res.Roles[strings.ToLower(role)]
	if !ok {
		return fmt.Errorf("devtenant: %s has no application permission %q", res.Name, role)
	}
	tx.addAppRole(client, res.AppID, v)
	return nil
}

// RevokeConsent removes the consent of userID ("" = tenant-wide) for client
// on resource.
func (d *Directory) RevokeConsent(client, resourceAppID, userID string) {
	tx := d.Lock()
	defer tx.Unlock()
	delete(d.grants, grantKey{strings.ToLower(client), strings.ToLower(resourceAppID), strings.ToLower(userID)})
}

// AddClientCertificate registers cert for private_key_jwt client assertions.
func (d *Directory) AddClientCertificate(appID string, cert *x509.Certificate) error {
	return d.withApp(appID, func(a *App) error {
		a.certs = append(a.certs, cert)
		return nil
	})
}

// AddPassword adds a client secret to appID, as Graph's
// application: addPassword does: a password credential named displayName
// whose endDateTime is lifetime from now on the tenant's clock (Graph
// /applications lists it), and the new secret, returned once. It
// authenticates the app like the secret generated at start, which stays
// ClientSecret's answer.
func (d *Directory) AddPassword(appID, displayName string, lifetime time.Duration) (string, error) {
	if lifetime <= 0 {
		return "", errors.New("devtenant: AddPassword: lifetime must be positive")
	}
	secret := randomSecret()
	err := d.withApp(appID, func(a *App) error {
		end := d.now().Add(lifetime).UTC().Format(time.RFC3339)
		// A new slice: Applications' copies share the old one.
		a.PasswordCredentials = append(slices.Clone(a.PasswordCredentials), PasswordCredential{DisplayName: displayName, EndDateTime: end})
		a.secrets = append(a.secrets, sha256.Sum256([]byte(secret)))
		return nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// ClientSecret returns the secret generated at start for appID ("" if the
// app has no password credential).
func (d *Directory) ClientSecret(appID string) string {
	tx := d.Lock()
	defer tx.Unlock()
	return d.secrets[strings.ToLower(appID)]
}

// Applications lists the registered apps, by app id.
func (d *Directory) Applications() []Application {
	tx := d.Lock()
	defer tx.Unlock()
	var out []Application
	for _, a := range tx.Apps() {
		out = append(out, a.Application)
	}
	return out
}
