package identity

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"

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
	if p.cfg.PersonaPicker {
		data["Personas"] = p.personaButtons(req)
	}
	w.Header().Set("X-Frame-Options", "DENY")
	render(w, http.StatusOK, "login", data, formPageCSP(req.redirectURI))
}

// personaButton is one button of the persona picker (Config.PersonaPicker):
// it posts the persona's OID instead of a username and password. Never a
// password: the page shows who, not how.
type personaButton struct {
	// OID is the user in the request's tenant (a guest's object there); on
	// common and organizations, the home account.
	OID      string
	Name     string
	Username string // what they sign in with: a guest's home account
	Roles    []string
	Admin    bool   // may consent for the organization
	Guest    string // a guest's home tenant (its domain); "" for members
	Disabled bool   // shown, so that one click shows the refusal (AADSTS50057)

	home       *directory.User // the account that signs in, in homeTenant
	homeTenant string
}

// personaButtons lists who can sign in where req is for: the tenant's users
// with a password of their own and its guests whose home account is hosted
// here; on common and organizations, every hosted tenant's users with a
// password. By display name. Caller holds the lock.
func (ts *tenants) personaButtons(req *authRequest) []personaButton {
	tenantIDs := []string{req.tenantID}
	if req.tenantID == "" {
		tenantIDs = tenantIDs[:0]
		for _, d := range ts.dirs {
			tenantIDs = append(tenantIDs, d.TenantID())
		}
	}
	var out []personaButton
	for _, tid := range tenantIDs {
		tx, ok := ts.txs[tid]
		if !ok {
			continue
		}
		for u := range tx.Users() {
			b := personaButton{OID: u.ID, Name: u.DisplayName, Username: u.UserPrincipalName, Roles: u.AppRoles, Admin: u.Admin, home: u, homeTenant: tid}
			switch {
			case u.HasPassword():
			case isGuest(u) && req.tenantID != "":
				if b.home, b.homeTenant = ts.homeAccount(u.Mail); b.home == nil || !b.home.HasPassword() {
					continue
				}
				b.Username, b.Guest = b.home.UserPrincipalName, ts.txs[b.homeTenant].Domain()
			default:
				continue
			}
			b.Disabled = !u.AccountEnabled || !b.home.AccountEnabled
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := strings.ToLower(out[i].Name), strings.ToLower(out[j].Name); a != b {
			return a < b
		}
		return out[i].Username < out[j].Username
	})
	return out
}

// pickedPersona is the persona picker's button named oid, when the page
// for req shows one. Caller holds the lock.
func (ts *tenants) pickedPersona(req *authRequest, oid string) (personaButton, bool) {
	for _, b := range ts.personaButtons(req) {
		if strings.EqualFold(b.OID, oid) {
			return b, true
		}
	}
	return personaButton{}, false
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

// renderDeviceCodeForm is the device code verification page ("Enter
// code"). Its form comes before any authorize request, so its CSRF token
// is a double submit: a fresh random value in a cookie and in the form.
func renderDeviceCodeForm(w http.ResponseWriter, errMsg string, code int) {
	token := randomString(24)
	http.SetCookie(w, &http.Cookie{Name: deviceFlowCookie, Value: token, Path: "/devicelogin", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.Header().Set("X-Frame-Options", "DENY")
	render(w, http.StatusOK, "devicelogin", map[string]any{
		"Title": "Enter code", "Action": "/devicelogin", "FlowToken": token, "Error": errMsg, "ErrorCode": code,
	}, pageCSP)
}

// renderDeviceConfirm is Entra's "Are you trying to sign in to <app>?",
// shown after sign-in in a device code flow: the user code may have come
// from someone else (device code phishing).
func renderDeviceConfirm(w http.ResponseWriter, req *authRequest, u *directory.User) {
	upn := ""
	if u != nil {
		upn = u.UserPrincipalName
	}
	w.Header().Set("X-Frame-Options", "DENY")
	render(w, http.StatusOK, "deviceconfirm", map[string]any{
		"Title": "Confirm sign-in", "App": req.client.DisplayName, "Action": "/devicelogin/confirm", "Ctx": req.id, "User": upn,
	}, pageCSP)
}

// renderDeviceDone is the page after a device sign-in went through.
func renderDeviceDone(w http.ResponseWriter, app string) {
	render(w, http.StatusOK, "devicedone", map[string]any{"Title": app, "App": app}, pageCSP)
}

// renderDeviceDeclined is the page after the user cancelled a device
// sign-in or declined consent (the dev tenant's text).
func renderDeviceDeclined(w http.ResponseWriter, app string, code int) {
	render(w, http.StatusOK, "devicedeclined", map[string]any{"Title": app, "App": app, "Code": code}, pageCSP)
}
