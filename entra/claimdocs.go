package entra

import "strings"

// claimMeanings explain the claims of Entra's ID and access tokens in one
// line each (learn.microsoft.com, "ID token claims reference" and "Access
// token claims reference").
var claimMeanings = map[string]string{
	"aud":                "Audience: the app (or API) this token is for: its client id or App ID URI. Everyone else must reject it.",
	"iss":                "Issuer: the tenant's endpoint that signed the token (v2.0: https://login.microsoftonline.com/<tid>/v2.0; v1: https://sts.windows.net/<tid>/). Checked against the discovery document.",
	"iat":                "Issued at: when the token was made (seconds since 1970, UTC).",
	"nbf":                "Not before: the token is not valid before this time.",
	"exp":                "Expiry: the token is not accepted after this time (a small clock skew is allowed).",
	"aio":                "An opaque value Entra uses internally; do not read meaning into it.",
	"name":               "Display name of the user. For display only: it can change and is not unique.",
	"nonce":              "The value this app sent in the sign-in request; matching it proves the token answers that request (no replay).",
	"oid":                "Object id of the user (in an app-only token, of the app's service principal): with tid, the stable key that identifies the subject across apps.",
	"preferred_username": "The sign-in name (often the UPN). Mutable and reassignable: never use it to authorize.",
	"rh":                 "An opaque value Entra uses to revalidate tokens; ignore it.",
	"sid":                "Session id of the user's sign-in session at Entra, used for sign-out.",
	"sub":                "Subject: the user, pairwise per app (the same user has another sub in another app).",
	"tid":                "Tenant id: the directory the user signed in to.",
	"uti":                "Token identifier: unique per token; useful in logs instead of the token itself.",
	"ver":                "Token version: 2.0, or 1.0 for Graph's tokens and APIs that ask for v1 tokens.",
	"roles":              "App roles assigned to the user (or a group they are in) for this app: authorize with these.",
	"groups":             "Object ids of the user's security groups (when the app asks for them).",
	"_claim_names":       "Groups overage: the user is in too many groups for the token; read them from Graph.",
	"_claim_sources":     "Where to read the claims that did not fit (groups overage).",
	"email":              "Email address, when the user has one and the app asked for the email scope. Not verified for guests: do not authorize with it.",
	"login_hint":         "An opaque hint for sign-in and sign-out that names this account without a picker.",
	"at_hash":            "Hash of the access token issued with this ID token (hybrid flows).",
	"c_hash":             "Hash of the authorization code issued with this ID token (hybrid flows).",
	"auth_time":          "When the user last entered credentials.",
	"idp":                "The identity provider that authenticated the subject: for guests, their home tenant.",
	"acct":               "Account status: 0 member, 1 guest.",
	"ctry":               "Country of the user (optional claim).",
	"xms_cc":             "Client capabilities this app declared, e.g. cp1: it can handle claims challenges (CAE).",
	"wids":               "Directory role templates (e.g. Global Administrator) assigned to the user.",
	"hasgroups":          "The user is in groups, but too many to list in this token.",
	"amr":                "Authentication methods used: pwd, mfa, ...",
	"acr":                "Authentication context class reference.",
	"unique_name":        "v1.0 name of the user; use preferred_username in v2.0.",
	"upn":                "User principal name (optional claim). Mutable: do not authorize with it.",
	"family_name":        "Last name (optional claim).",
	"given_name":         "First name (optional claim).",
	"scp":                "Scopes: the delegated permissions the user (or an admin) consented to for the calling app; an API checks for its own, e.g. access_as_user.",
	"azp":                "Authorized party: the client id of the app that asked for this token (v2 access tokens).",
	"appid":              "The client id of the app that asked for this token (v1 access tokens).",
	"azpacr":             "How the calling app authenticated: 0 public client (no credential), 1 client secret, 2 certificate.",
	"appidacr":           "v1 of azpacr: 0 public client, 1 client secret, 2 certificate.",
	"idtyp":              "Token type (optional claim): app for an app-only token, user for a delegated one. Tells the two apart without guessing from scp.",
	"app_displayname":    "The calling app's display name (v1 Graph tokens).",
	"ipaddr":             "The IP address the user authenticated from.",
	"platf":              "The device platform (v1 tokens).",
	"puid":               "An internal user id (Graph tokens); ignore it.",
	"signin_state":       "Sign-in state flags, e.g. kmsi (keep me signed in).",
	"xms_tcdt":           "When the tenant was created (Graph tokens).",
	"cty":                "Content type (JOSE header).",
}

// ClaimMeaning explains a claim of an Entra ID or access token in one line,
// for people reading a token: the web app's claims page, the flow
// inspector, entractl jwt decode.
func ClaimMeaning(name string) string {
	if m, ok := claimMeanings[name]; ok {
		return m
	}
	if strings.HasPrefix(name, "xms_") {
		return "A Microsoft-specific claim (xms_ prefix)."
	}
	return "Not described here: see Entra's ID and access token claims references."
}
