package devtenant

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
	"github.com/entrakit/entrakit/entra/devtenant/fault"
)

// The tenant model's types, named here so that users of the dev tenant need
// only this package. See package directory for their documentation.
type (
	User                = directory.User
	Group               = directory.Group
	Persona             = directory.Persona
	Application         = directory.Application
	Manifest            = directory.Manifest
	FederatedCredential = directory.FederatedCredential
	// Fault is an injected failure of the token endpoint ("token") or of
	// Graph ("graph"); see [Server.InjectFault].
	Fault = fault.Fault
)

// Fixed identities of the dev tenant: the same on every start.
const (
	DefaultTenantID = directory.DefaultTenantID
	DefaultDomain   = directory.DefaultDomain
	// GraphAppID is Microsoft Graph's application id, the same in every tenant.
	GraphAppID = directory.GraphAppID
	// DefaultFederatedAudience is the audience Entra expects in federated
	// assertions unless a federated identity credential names another.
	DefaultFederatedAudience = directory.DefaultFederatedAudience
)

// ParseManifest reads and checks an app-registration manifest.
func ParseManifest(data []byte) (*Manifest, error) { return directory.ParseManifest(data) }

// ManagedIdentityInfo describes a managed identity of the dev tenant and how
// to reach its token endpoint.
type ManagedIdentityInfo struct {
	// Name is the identity's display name: the App Service app for the
	// system-assigned identity, the resource name for a user-assigned one.
	Name string
	// ClientID is the appId of the identity's service principal (client_id,
	// azidentity.ClientID, appid in its tokens).
	ClientID string
	// ObjectID is the service principal's object id (object_id,
	// azidentity.ObjectID, oid in its tokens).
	ObjectID string
	// ResourceID is the identity's Azure resource id (mi_res_id,
	// azidentity.ResourceID, xms_mirid in its tokens).
	ResourceID     string
	SystemAssigned bool
	// Endpoint is IDENTITY_ENDPOINT: http://127.0.0.1:PORT/msi/token, set by
	// Start. Plain HTTP on loopback, as App Service serves it.
	Endpoint string
	// Header is IDENTITY_HEADER, the secret every request must carry in
	// X-IDENTITY-HEADER; random per start. String() hides it.
	Header string
}

// String describes the identity without its header secret.
func (i ManagedIdentityInfo) String() string {
	return fmt.Sprintf("managed identity %s (client id %s, object id %s, endpoint %s)", i.Name, i.ClientID, i.ObjectID, i.Endpoint)
}

func (s *Server) miInfo(mi directory.ManagedIdentity) ManagedIdentityInfo {
	endpoint, header := s.idp.ManagedIdentity().Endpoint()
	return ManagedIdentityInfo{Name: mi.App.DisplayName, ClientID: mi.App.AppID, ObjectID: mi.App.SPID, ResourceID: mi.ResourceID,
		SystemAssigned: mi.System, Endpoint: endpoint, Header: header}
}

// ManagedIdentity returns the tenant's system-assigned managed identity and
// its endpoint. To make azidentity.NewManagedIdentityCredential (or MSAL Go's
// managedidentity client) use it, set IDENTITY_ENDPOINT to Endpoint and
// IDENTITY_HEADER to Header. Its tokens are app-only, with the Graph
// application permissions User.Read.All, GroupMember.Read.All and
// Application.Read.All (add more with GrantAppRole).
func (s *Server) ManagedIdentity() ManagedIdentityInfo {
	return s.miInfo(s.Directory.SystemAssignedIdentity())
}

// AddUserAssignedIdentity adds a user-assigned managed identity named name
// (an Azure resource name: letters, digits, '-' and '_', 3 to 128
// characters), with the same Graph application permissions as the
// system-assigned one. Its ids derive from the name: the same on every start.
// Request its tokens with client_id, object_id or mi_res_id (azidentity:
// ManagedIdentityCredentialOptions.ID).
func (s *Server) AddUserAssignedIdentity(name string) (ManagedIdentityInfo, error) {
	mi, err := s.Directory.AddUserAssignedIdentity(name)
	if err != nil {
		return ManagedIdentityInfo{}, err
	}
	return s.miInfo(mi), nil
}

// GuestHomeDomain is the initial domain of the second tenant the server
// hosts, Fabrikam: the guest persona's home.
const GuestHomeDomain = "fabrikam.onmicrosoft.com"

// GuestHome is Fabrikam, the second tenant on the server (its id is
// directory.GuestHomeTenantID): its own people (pat@fabrikam.com is a guest
// in Contoso, admin@fabrikam.com can consent for Fabrikam) and, once they
// consent, the service principals of Contoso's multi-tenant apps. Its
// authority is URL()+"/"+GuestHome().TenantID(); its tokens are signed with
// the same keys, as all of Entra's tenants' are.
func (s *Server) GuestHome() *directory.Directory { return s.guestHome }

// Personas lists who can sign in to Contoso, with the passwords set at
// start: its members, and its B2B guests with their home account (a guest
// signs in at home, with that password).
func (s *Server) Personas() []Persona {
	out := s.Directory.Personas()
	home := map[string]Persona{}
	for _, p := range s.guestHome.Personas() {
		home[strings.ToLower(p.Username)] = p
	}
	for _, g := range s.Directory.Guests() {
		h, ok := home[strings.ToLower(g.Mail)]
		if !ok {
			continue
		}
		out = append(out, Persona{Username: h.Username, Password: h.Password, OID: g.ID, DisplayName: g.DisplayName,
			Department: g.Department, Roles: append([]string{}, g.AppRoles...), Enabled: g.AccountEnabled && h.Enabled, Guest: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}

// Persona returns the persona whose user name starts with alias + "@"
// (e.g. "AdeleV"), for tests.
func (s *Server) Persona(alias string) (Persona, bool) {
	for _, p := range s.Personas() {
		if strings.EqualFold(strings.SplitN(p.Username, "@", 2)[0], alias) {
			return p, true
		}
	}
	return Persona{}, false
}

// WritePersonas writes a table of the personas — username, password, app
// roles and what is special about them — then Fabrikam's people, each line
// starting with indent, for the banners of the binaries that start a dev
// tenant.
func (s *Server) WritePersonas(w io.Writer, indent string) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, p := range s.Personas() {
		note := strings.Join(p.Roles, ",")
		switch {
		case !p.Enabled:
			note += " (disabled)"
		case p.Admin:
			note += " (tenant admin: can consent for the organization)"
		case p.Guest:
			note += " (guest from Fabrikam: signs in with the home account)"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\n", indent, p.Username, p.Password, note)
	}
	for _, p := range s.guestHome.Personas() {
		note := "Fabrikam: a multi-tenant app's other organization"
		if p.Admin {
			note = "Fabrikam tenant admin: can consent for Fabrikam"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\n", indent, p.Username, p.Password, note)
	}
	return tw.Flush()
}
