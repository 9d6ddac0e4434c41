package devtenant_test

import (
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

// webFormCSP is the sign-in page's CSP for the web app's redirect URI, with
// the persona picker or without it.
const webFormCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://localhost:8080; frame-ancestors 'none'"

// signInPage is the sign-in page as a browser sees it.
type signInPage struct {
	status  int
	csp     string
	body    string
	forms   map[string]url.Values // by id: the fields (hidden inputs, text inputs)
	buttons map[string]string     // persona picker: OID -> the button's class
}

// openSignIn GETs an authorize URL of the web app at tenant and parses the
// sign-in page it shows.
func openSignIn(t *testing.T, srv *devtenant.Server, client *http.Client, tenant string) signInPage {
	t.Helper()
	v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
	resp, body := send(t, client, mustRequest(t, http.MethodGet, srv.URL()+"/"+tenant+"/oauth2/v2.0/authorize?"+v.Encode()))
	p := signInPage{status: resp.StatusCode, csp: resp.Header.Get("Content-Security-Policy"), body: string(body),
		forms: map[string]url.Values{}, buttons: map[string]string{}}
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var form url.Values
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			switch {
			case n.Data == "form":
				form = url.Values{}
				p.forms[attr["id"]] = form
			case n.Data == "input" && form != nil:
				form.Set(attr["name"], attr["value"])
			case n.Data == "button" && attr["name"] == "persona":
				p.buttons[attr["value"]] = attr["class"]
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return p
}

// TestPersonaPickerPage: with Options.PersonaPicker the sign-in page lists
// every persona (a guest by the guest object, a disabled one marked) in a
// form of its own, beside the unchanged username and password form; the
// CSP is the same and no password is on the page. Without it, no picker.
func TestPersonaPickerPage(t *testing.T) {
	for _, picker := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "off"}[picker], func(t *testing.T) {
			srv := startTenant(t, func(o *devtenant.Options) { o.PersonaPicker = picker })
			p := openSignIn(t, srv, srv.Client(), srv.TenantID())
			if p.status != http.StatusOK || p.csp != webFormCSP {
				t.Errorf("status %d, CSP %q; want 200, %q", p.status, p.csp, webFormCSP)
			}
			login := p.forms["login"]
			if login == nil || login.Get("ctx") == "" || !login.Has("username") || !login.Has("password") {
				t.Fatalf("login form = %v", login)
			}
			for _, persona := range append(srv.Personas(), srv.GuestHome().Personas()...) {
				if persona.Password != "" && strings.Contains(p.body, persona.Password) {
					t.Errorf("the page holds %s's password", persona.Username)
				}
			}
			// The form has the focus, unless the picker's buttons come first.
			if got := strings.Contains(p.body, `autocomplete="username" required autofocus>`); got == picker {
				t.Errorf("username autofocus: %v with the picker %v", got, picker)
			}
			if !picker {
				if p.forms["personas"] != nil || len(p.buttons) > 0 || strings.Contains(p.body, `name="persona"`) {
					t.Errorf("picker off, yet the page has %d persona buttons", len(p.buttons))
				}
				return
			}
			pf := p.forms["personas"]
			if pf == nil || pf.Get("ctx") != login.Get("ctx") || pf.Has("username") || pf.Has("password") {
				t.Fatalf("personas form = %v, want ctx %q alone", pf, login.Get("ctx"))
			}
			personas := srv.Personas()
			for _, persona := range personas {
				class, ok := p.buttons[persona.OID]
				switch {
				case !ok:
					t.Errorf("no button for %s (%s)", persona.DisplayName, persona.OID)
				case persona.Enabled && class != "":
					t.Errorf("%s's button has class %q", persona.DisplayName, class)
				case !persona.Enabled && class != "disabled":
					t.Errorf("disabled %s's button has class %q", persona.DisplayName, class)
				}
				if !strings.Contains(p.body, persona.DisplayName) {
					t.Errorf("the page does not name %s", persona.DisplayName)
				}
			}
			if len(p.buttons) != len(personas) {
				t.Errorf("%d buttons for %d personas (Fabrikam's own people have none in Contoso)", len(p.buttons), len(personas))
			}
			for _, want := range []string{"app role Reader", "app role Admin", "administrator: can consent for the organization",
				"guest from " + devtenant.GuestHomeDomain, "disabled: sign-in is refused", "pat@fabrikam.com"} {
				if !strings.Contains(p.body, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
		})
	}
}

// TestPersonaPickerSignIn: a button signs the persona in through the same
// flow as the form (SSO cookie, consent, code), as the same user; never a
// disabled one, nor anyone the page does not list; refused when the picker
// is off.
func TestPersonaPickerSignIn(t *testing.T) {
	on := startTenant(t, func(o *devtenant.Options) { o.PersonaPicker = true })
	off := startTenant(t)
	fabrikam := "https://sts.windows.net/" + directory.GuestHomeTenantID + "/"
	tests := []struct {
		name    string
		srv     *devtenant.Server
		persona func(srv *devtenant.Server) string // the OID the button posts
		scope   string
		consent string
		wantErr int               // AADSTS code of the page, 0 for a code
		want    map[string]string // ID token claims
	}{
		{name: "member", srv: on, persona: oidOf(t, "AdeleV"), scope: wireWebScope,
			want: map[string]string{"preferred_username": "AdeleV@" + devtenant.DefaultDomain}},
		{name: "guest signs in as the guest object", srv: on, persona: oidOf(t, "pat"), scope: wireWebScope,
			want: map[string]string{"preferred_username": "pat@fabrikam.com", "idp": fabrikam, "tid": devtenant.DefaultTenantID}},
		{name: "disabled", srv: on, persona: oidOf(t, "LynneR"), scope: wireWebScope, wantErr: 50057},
		{name: "unknown object id", srv: on, persona: func(*devtenant.Server) string { return directory.NewObjectID() }, scope: wireWebScope, wantErr: 50034},
		{name: "Fabrikam member, not in Contoso", srv: on, scope: wireWebScope, wantErr: 50034,
			persona: func(srv *devtenant.Server) string { return fabrikamPersona(t, srv, "kai").OID }},
		// The consent page follows the picker as it follows the form: the
		// admin-only permission, declined, comes back as access_denied.
		{name: "consent page", srv: on, persona: oidOf(t, "admin"), scope: wireWebScope + " User.Read.All", consent: "decline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.srv
			oid := tt.persona(srv)
			b := srv.NewBrowser("", "")
			b.Persona, b.Consent = oid, tt.consent
			v, verifier := wireAuthParams(webAppID, webRedirect, tt.scope)
			resp, err := b.Authorize(t.Context(), srv.Authority()+"/oauth2/v2.0/authorize?"+v.Encode())
			if tt.wantErr != 0 {
				var pe *devtenant.PageError
				if !errors.As(err, &pe) || pe.Code != tt.wantErr {
					t.Fatalf("authorize: %v, want AADSTS%d", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.consent == "decline" {
				if resp.Params.Get("error") != "access_denied" {
					t.Errorf("declined consent: %v", resp.Params)
				}
				return
			}
			w := wire{srv: srv, hc: srv.Client()}
			r := w.token(t, w.redeemForm(resp.Params.Get("code"), verifier), nil)
			if r.Status != http.StatusOK {
				t.Fatalf("redeem: %d %s", r.Status, r.Raw)
			}
			id := claimsOf(t, r.s("id_token"))
			if id["oid"] != oid {
				t.Errorf("oid = %v, want %s", id["oid"], oid)
			}
			for k, want := range tt.want {
				if id[k] != want {
					t.Errorf("%s = %v, want %s", k, id[k], want)
				}
			}
			// The SSO cookie is set: the next sign-in needs no page at all.
			again := *b
			again.Persona = "" // the picker is not there to answer
			if resp, err := again.Authorize(t.Context(), srv.Authority()+"/oauth2/v2.0/authorize?"+v.Encode()); err != nil || resp.Params.Get("code") == "" {
				t.Errorf("SSO after the picker: %v %v", resp, err)
			}
		})
	}

	t.Run("picker off refuses the persona POST", func(t *testing.T) {
		adele := persona(t, off, "AdeleV")
		client := off.Client()
		client.Jar, _ = cookiejar.New(nil)
		p := openSignIn(t, off, client, off.TenantID())
		form := url.Values{"ctx": {p.forms["login"].Get("ctx")}, "persona": {adele.OID}}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, off.URL()+"/"+off.TenantID()+"/login", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, body := send(t, client, req)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "AADSTS900144") || resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("persona POST with the picker off: %d, cookie %q\n%s", resp.StatusCode, resp.Header.Get("Set-Cookie"), body)
		}
		b := off.NewBrowser("", "")
		b.Persona = adele.OID
		v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
		if _, err := b.Authorize(t.Context(), off.Authority()+"/oauth2/v2.0/authorize?"+v.Encode()); err == nil || !strings.Contains(err.Error(), "no persona picker") {
			t.Errorf("Browser.Persona without a picker: %v", err)
		}
		// The form signs in as ever.
		if _, err := off.NewBrowser(adele.Username, adele.Password).Authorize(t.Context(), off.Authority()+"/oauth2/v2.0/authorize?"+v.Encode()); err != nil {
			t.Errorf("the form: %v", err)
		}
	})
}

// TestPersonaPickerOrganizations: on organizations (a multi-tenant app) the
// picker lists every hosted tenant's people by their home account, and a
// Fabrikam member signs in to Fabrikam.
func TestPersonaPickerOrganizations(t *testing.T) {
	srv := startTenant(t, func(o *devtenant.Options) {
		o.PersonaPicker = true
		o.Manifest = withWebApp(t, o.Manifest, func(a map[string]any) { a["signInAudience"] = "AzureADMultipleOrgs" })
	})
	p := openSignIn(t, srv, srv.Client(), "organizations")
	kai, pat := fabrikamPersona(t, srv, "kai"), fabrikamPersona(t, srv, "pat")
	guest := persona(t, srv, "pat")
	for oid, want := range map[string]bool{kai.OID: true, pat.OID: true, persona(t, srv, "AdeleV").OID: true, guest.OID: false} {
		if _, ok := p.buttons[oid]; ok != want {
			t.Errorf("button for %s: %v, want %v", oid, ok, want)
		}
	}
	b := srv.NewBrowser("", "")
	b.Persona = kai.OID
	v, verifier := wireAuthParams(webAppID, webRedirect, wireWebScope)
	resp, err := b.Authorize(t.Context(), srv.URL()+"/organizations/oauth2/v2.0/authorize?"+v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	w := wire{srv: srv, hc: srv.Client()}
	r := redeemAt(t, w, "organizations", resp.Params.Get("code"), verifier)
	if id := claimsOf(t, r.s("id_token")); id["tid"] != directory.GuestHomeTenantID || id["oid"] != kai.OID {
		t.Errorf("tid %v oid %v, want Fabrikam's %s", id["tid"], id["oid"], kai.OID)
	}
}

// oidOf is the object id of the persona alias in the tenant.
func oidOf(t *testing.T, alias string) func(*devtenant.Server) string {
	return func(srv *devtenant.Server) string { return persona(t, srv, alias).OID }
}
