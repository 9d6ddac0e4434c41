package identity

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"sort"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

//go:embed templates/pages.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/pages.html"))

func render(w http.ResponseWriter, status int, name string, data any, csp string) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"

// formPageCSP is pageCSP for the sign-in and consent forms, whose answer
// may redirect to the app (query and fragment response modes): browsers
// apply form-action to the redirects after a form submission too.
func formPageCSP(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return pageCSP
	}
	return "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' " + u.Scheme + "://" + u.Host + "; frame-ancestors 'none'"
}

// errorPage is Entra's own error page: shown instead of redirecting when the
// redirect URI cannot be trusted (AADSTS50011, unknown client...).
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, status int, e *aadError) {
	logAADError(p.log, r, e)
	w.Header().Set("X-Frame-Options", "DENY")
	render(w, status, "error", map[string]any{
		"Title": "Sign-in error", "Code": e.code, "Message": e.Error(), "TraceID": directory.NewObjectID(), "CorrelationID": correlationID(r),
		"Timestamp": p.cfg.Now().UTC().Format("2006-01-02 15:04:05Z"),
	}, pageCSP)
}

func (p *Provider) renderLogin(w http.ResponseWriter, req *authRequest, sess *ssoSession, errMsg string, code int) {
	data := map[string]any{
		"Title": "Sign in", "App": req.client.DisplayName, "Action": "/" + req.tenant.segment + "/login", "Ctx": req.id,
		"LoginHint": req.loginHint, "Error": errMsg, "ErrorCode": code,
	}
	if sess != nil && req.prompt == "select_account" && !req.freshAuth {
		data["SSOUser"] = p.sessionUser(sess).UserPrincipalName
	}
	w.Header().Set("X-Frame-Options", "DENY")
	render(w, http.StatusOK, "login", data, formPageCSP(req.redirectURI))
}

func renderConsent(w http.ResponseWriter, req *authRequest, u *directory.User, missing []directory.ScopeDef) {
	var perms []string
	needsAdmin := false
	for _, m := range missing {
		perms = append(perms, m.Value)
		needsAdmin = needsAdmin || (m.Admin && !u.Admin)
	}
	if len(perms) == 0 { // prompt=consent with everything granted: show what is asked
		for sc := range req.sr.oidc {
			perms = append(perms, sc)
		}
		for _, part := range append([]*scopeRequest{req.sr}, req.sr.more...) {
			perms = append(perms, part.values...)
		}
	}
	sort.Strings(perms)
	w.Header().Set("X-Frame-Options", "DENY")
	render(w, http.StatusOK, "consent", map[string]any{
		"Title": "Permissions requested", "App": req.client.DisplayName, "Action": "/" + req.tenant.segment + "/consent", "Ctx": req.id,
		"User": u.UserPrincipalName, "Permissions": perms, "Admin": u.Admin, "NeedsAdmin": needsAdmin,
	}, formPageCSP(req.redirectURI))
}

type formField struct{ Name, Value string }

// renderFormPost answers response_mode=form_post: a form that posts the
// parameters to the redirect URI (auto-submitted by script; a button without).
func renderFormPost(w http.ResponseWriter, action string, params url.Values) {
	var fields []formField
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range params[k] {
			fields = append(fields, formField{k, v})
		}
	}
	nonce := randomString(16)
	render(w, http.StatusOK, "formpost", map[string]any{"Title": "Working", "Action": action, "Fields": fields, "Nonce": nonce},
		"default-src 'none'; script-src 'nonce-"+nonce+"'; form-action *")
}

func renderSignedOut(w http.ResponseWriter) {
	render(w, http.StatusOK, "signedout", map[string]any{"Title": "Signed out"}, pageCSP)
}
