package webapp

// GraphPermissions are the delegated Microsoft Graph permissions the web app
// and its API ask for, by what asks: sign-in (with the OpenID Connect
// scopes entra.SignIn adds), the directory page (incremental consent), and
// the API's on-behalf-of exchange. infra/app-registration.json must declare
// each for the web app; a test (internal/infracheck) checks it.
func GraphPermissions() map[string][]string {
	return map[string][]string{
		"sign-in":   append([]string{"openid", "profile", "offline_access"}, signInScopes...),
		"directory": append([]string(nil), directoryScopes...),
		"api-obo":   append([]string(nil), oboScopes...),
	}
}

// RedirectPaths are the paths Entra returns browsers to, which the app
// serves: the sign-in callback, the page after sign-out, and the SPA (when
// Config.SPAClientID is set). The manifest's redirect URIs must be among
// them (internal/infracheck).
func RedirectPaths() (web, spa []string) {
	return []string{"/auth/callback", "/signedout"}, []string{"/spa/"}
}
