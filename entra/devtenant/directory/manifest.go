package directory

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// GraphAppID is Microsoft Graph's application id, the same in every tenant.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// Application is one app registration, in the shape of Microsoft Graph's
// application resource (the fields the dev tenant reads).
type Application struct {
	UniqueName             string                   `json:"uniqueName"`
	AppID                  string                   `json:"appId"`
	DisplayName            string                   `json:"displayName"`
	SignInAudience         string                   `json:"signInAudience"`
	IdentifierURIs         []string                 `json:"identifierUris"`
	GroupMembershipClaims  string                   `json:"groupMembershipClaims"`
	IsFallbackPublicClient bool                     `json:"isFallbackPublicClient"`
	Web                    WebApplication           `json:"web"`
	SPA                    RedirectURIs             `json:"spa"`
	PublicClient           RedirectURIs             `json:"publicClient"`
	API                    APIApplication           `json:"api"`
	AppRoles               []AppRole                `json:"appRoles"`
	RequiredResourceAccess []RequiredResourceAccess `json:"requiredResourceAccess"`
	PasswordCredentials    []PasswordCredential     `json:"passwordCredentials"`
	KeyCredentials         []KeyCredential          `json:"keyCredentials"`
	OptionalClaims         OptionalClaims           `json:"optionalClaims"`
	// FederatedIdentityCredentials are trusted external token issuers
	// (workload identity federation); see [Server.AddFederatedCredential].
	FederatedIdentityCredentials []FederatedCredential `json:"federatedIdentityCredentials,omitempty"`
}

// OptionalClaims are the extra claims an app asks for, per token type.
type OptionalClaims struct {
	IDToken     []OptionalClaim `json:"idToken"`
	AccessToken []OptionalClaim `json:"accessToken"`
}

// OptionalClaim names one optional claim (e.g. login_hint), with Graph's
// additionalProperties (e.g. include_user_token for idtyp).
type OptionalClaim struct {
	Name                 string   `json:"name"`
	AdditionalProperties []string `json:"additionalProperties,omitempty"`
}

// HasIDTokenClaim reports whether the app asks for the optional claim name
// in ID tokens.
func (o OptionalClaims) HasIDTokenClaim(name string) bool {
	_, ok := find(o.IDToken, name)
	return ok
}

// AccessTokenClaim reports whether the app, as a resource, asks for the
// optional claim name in the access tokens issued for it, and with which
// additional properties.
func (o OptionalClaims) AccessTokenClaim(name string) (props []string, ok bool) {
	return find(o.AccessToken, name)
}

func find(list []OptionalClaim, name string) ([]string, bool) {
	for _, c := range list {
		if c.Name == name {
			return c.AdditionalProperties, true
		}
	}
	return nil, false
}

// WebApplication is the web platform: confidential clients.
type WebApplication struct {
	RedirectURIs          []string `json:"redirectUris"`
	LogoutURL             string   `json:"logoutUrl"`
	ImplicitGrantSettings struct {
		EnableIDTokenIssuance     bool `json:"enableIdTokenIssuance"`
		EnableAccessTokenIssuance bool `json:"enableAccessTokenIssuance"`
	} `json:"implicitGrantSettings"`
}

// RedirectURIs is the spa or publicClient platform.
type RedirectURIs struct {
	RedirectURIs []string `json:"redirectUris"`
}

// APIApplication is what an app exposes as a resource.
type APIApplication struct {
	RequestedAccessTokenVersion *int              `json:"requestedAccessTokenVersion"`
	OAuth2PermissionScopes      []PermissionScope `json:"oauth2PermissionScopes"`
}

// PermissionScope is a delegated permission an API exposes.
type PermissionScope struct {
	ID                      string `json:"id"`
	Value                   string `json:"value"`
	Type                    string `json:"type"` // "User" (user-consentable) or "Admin"
	IsEnabled               bool   `json:"isEnabled"`
	AdminConsentDisplayName string `json:"adminConsentDisplayName"`
	UserConsentDisplayName  string `json:"userConsentDisplayName"`
}

// AppRole is a role an app defines, for users or for applications.
type AppRole struct {
	ID                 string   `json:"id"`
	Value              string   `json:"value"`
	DisplayName        string   `json:"displayName"`
	Description        string   `json:"description"`
	AllowedMemberTypes []string `json:"allowedMemberTypes"`
	IsEnabled          bool     `json:"isEnabled"`
}

// RequiredResourceAccess lists the permissions an app needs on one resource.
// The dev tenant grants them with admin consent at start, as infra's Bicep does.
type RequiredResourceAccess struct {
	ResourceAppID  string           `json:"resourceAppId"`
	ResourceAccess []ResourceAccess `json:"resourceAccess"`
}

// ResourceAccess is one permission of a RequiredResourceAccess.
type ResourceAccess struct {
	ID   string `json:"id"`
	Type string `json:"type"` // "Scope" (delegated) or "Role" (application)
}

// PasswordCredential is a client secret's metadata; the value is never stored.
type PasswordCredential struct {
	DisplayName string `json:"displayName"`
	KeyID       string `json:"keyId,omitempty"`
	EndDateTime string `json:"endDateTime"`
}

// KeyCredential is a certificate's metadata.
type KeyCredential struct {
	DisplayName string `json:"displayName"`
	Type        string `json:"type"`
	Usage       string `json:"usage"`
	EndDateTime string `json:"endDateTime"`
}

// Manifest is infra/app-registration.json.
type Manifest struct {
	Applications []Application `json:"applications"`
	// GraphPermissions are each app's Microsoft Graph permissions by name
	// (by uniqueName; keys starting with $ are comments). infra/main.bicep
	// looks their ids up on Graph's service principal; ParseManifest adds
	// them to the app's RequiredResourceAccess with the emulator's ids, as
	// the deployed registration has them.
	GraphPermissions map[string]GraphPermissionSet `json:"-"`
}

// GraphPermissionSet is one app's Graph permissions: delegated (scopes)
// and application (app roles) ones, and those an administrator grants at
// deployment (the rest are asked for at run time: incremental consent).
type GraphPermissionSet struct {
	Delegated    []string `json:"delegated"`
	Application  []string `json:"application"`
	AdminConsent []string `json:"adminConsent"`
}

// ParseManifest reads and checks an app-registration manifest.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	var raw struct {
		GraphPermissions map[string]json.RawMessage `json:"graphPermissions"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("devtenant: manifest: %w", err)
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("devtenant: manifest: %w", err)
	}
	if len(m.Applications) == 0 {
		return nil, errors.New("devtenant: manifest: no applications")
	}
	var errs []error
	m.GraphPermissions = map[string]GraphPermissionSet{}
	for name, v := range raw.GraphPermissions {
		if strings.HasPrefix(name, "$") {
			continue
		}
		var set GraphPermissionSet
		if err := json.Unmarshal(v, &set); err != nil {
			errs = append(errs, fmt.Errorf("devtenant: manifest: graphPermissions.%s: %w", name, err))
			continue
		}
		m.GraphPermissions[name] = set
	}
	errs = append(errs, m.addGraphAccess()...)
	seen := map[string]bool{}
	for i, a := range m.Applications {
		where := fmt.Sprintf("devtenant: manifest: applications[%d] (%s)", i, a.UniqueName)
		if err := checkFICs(m.Applications[i].FederatedIdentityCredentials); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if !IsGUID(a.AppID) {
			errs = append(errs, fmt.Errorf("%s: appId is not a GUID: %q", where, a.AppID))
		}
		if seen[strings.ToLower(a.AppID)] {
			errs = append(errs, fmt.Errorf("%s: duplicate appId %s", where, a.AppID))
		}
		seen[strings.ToLower(a.AppID)] = true
		for _, list := range [][]string{a.Web.RedirectURIs, a.SPA.RedirectURIs, a.PublicClient.RedirectURIs} {
			for _, r := range list {
				if u, err := url.Parse(r); err != nil || !u.IsAbs() || u.Fragment != "" {
					errs = append(errs, fmt.Errorf("%s: bad redirect URI %q", where, r))
				}
			}
		}
	}
	return &m, errors.Join(errs...)
}

// addGraphAccess checks GraphPermissions and adds each app's Graph
// permissions to its RequiredResourceAccess, with Graph's ids.
func (m *Manifest) addGraphAccess() []error {
	var errs []error
	apps := map[string]*Application{}
	for i := range m.Applications {
		apps[m.Applications[i].UniqueName] = &m.Applications[i]
	}
	for name, set := range m.GraphPermissions {
		a := apps[name]
		if a == nil {
			errs = append(errs, fmt.Errorf("devtenant: manifest: graphPermissions names no application %q", name))
			continue
		}
		for _, rra := range a.RequiredResourceAccess {
			if strings.EqualFold(rra.ResourceAppID, GraphAppID) {
				errs = append(errs, fmt.Errorf("devtenant: manifest: %s: Graph permissions go in graphPermissions (by name), not requiredResourceAccess (by id)", name))
			}
		}
		rra := RequiredResourceAccess{ResourceAppID: GraphAppID}
		declared := map[string]bool{}
		for _, list := range []struct {
			values    []string
			delegated bool
			typ       string
		}{{set.Delegated, true, "Scope"}, {set.Application, false, "Role"}} {
			for _, v := range list.values {
				p, ok := graphPermissionByValue(v, list.delegated)
				if !ok {
					errs = append(errs, fmt.Errorf("devtenant: manifest: graphPermissions.%s: %q is not a %s permission of Microsoft Graph the dev tenant knows", name, v, map[bool]string{true: "delegated", false: "application"}[list.delegated]))
					continue
				}
				declared[v] = true
				rra.ResourceAccess = append(rra.ResourceAccess, ResourceAccess{ID: p.ID, Type: list.typ})
			}
		}
		for _, v := range set.AdminConsent {
			if !declared[v] {
				errs = append(errs, fmt.Errorf("devtenant: manifest: graphPermissions.%s: adminConsent names %q, which it does not declare", name, v))
			}
		}
		if len(rra.ResourceAccess) > 0 {
			a.RequiredResourceAccess = append(a.RequiredResourceAccess, rra)
		}
	}
	return errs
}

func graphPermissionByValue(value string, delegated bool) (graphPermission, bool) {
	for _, p := range graphPermissions {
		if p.Value == value && p.Delegated == delegated {
			return p, true
		}
	}
	return graphPermission{}, false
}

// IsGUID reports whether s is a GUID (any case).
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// graphPermission is one Microsoft Graph permission the emulator knows. Ids
// are Graph's real ones (https://learn.microsoft.com/graph/permissions-reference).
type graphPermission struct {
	ID           string
	Value        string
	Delegated    bool // false: application permission (app role)
	AdminConsent bool // delegated permissions only a tenant admin may consent to
}

var graphPermissions = []graphPermission{
	{"37f7f235-527c-4136-accd-4a02d197296e", "openid", true, false},
	{"14dad69e-099b-42c9-810b-d002981feec1", "profile", true, false},
	{"64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0", "email", true, false},
	{"7427e0e9-2fba-42fe-b0c0-848c9e6a8182", "offline_access", true, false},
	{"e1fe6dd8-ba31-4d61-89e7-88639da4683d", "User.Read", true, false},
	{"b340eb25-3456-403f-be2f-af7a0d370277", "User.ReadBasic.All", true, false},
	// No mail here: Mail.Read is a user-consentable permission no app of
	// the manifest holds, for trying consent (incremental, declined).
	{"570282fd-fa5c-430d-a7fd-fc8dc98a9dca", "Mail.Read", true, false},
	{"a154be20-db9c-4678-8ab7-66f6cc099a59", "User.Read.All", true, true},
	{"bc024368-1153-4739-b217-4326f2e966d0", "GroupMember.Read.All", true, true},
	{"5f8c59db-677d-491f-a6b8-5f174b11ec1d", "Group.Read.All", true, true},
	{"c79f8feb-a9db-4090-85f9-90d820caa0eb", "Application.Read.All", true, true},
	{"06da0dbc-49e2-44d2-8312-53f166ab848a", "Directory.Read.All", true, true},
	{"df021288-bdef-4463-88db-98f22de89214", "User.Read.All", false, true},
	{"98830695-27a2-44f7-8c18-0c3ebc9698f6", "GroupMember.Read.All", false, true},
	{"5b567255-7703-4780-807c-7be8301ae99b", "Group.Read.All", false, true},
	{"9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Application.Read.All", false, true},
	{"7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.Read.All", false, true},
	{"204e0828-b5ca-4ad8-b9f3-f32a958e7cc4", "User.ReadWrite.All", true, true},
	{"741f803b-c850-494e-b5df-cde7c675a1ca", "User.ReadWrite.All", false, true},
}
