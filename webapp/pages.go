package webapp

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"maps"
	"mime"
	"net/http"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/gin-gonic/gin"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

type pageData map[string]any

type pages struct {
	byName map[string]*template.Template
}

func parsePages() (*pages, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	funcs := template.FuncMap{"join": strings.Join}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("webapp: template %s: %w", n, err)
		}
		p.byName[base] = t
	}
	return p, nil
}

// render writes a page inside the layout. The layout needs the session (for
// the header and the sign-out form's CSRF token) and the request id.
func (a *App) render(c *gin.Context, status int, name string, data pageData) {
	t := a.pages.byName[name]
	if t == nil {
		a.log.Error("no such template", "name", name)
		c.String(http.StatusInternalServerError, "internal error\n")
		return
	}
	if data == nil {
		data = pageData{}
	}
	sess := sessionOf(c)
	if sess != nil && sess.User != nil {
		data["User"] = sess.User
		data["CSRF"] = sess.CSRF
	}
	data["DevMode"] = a.cfg.DevTenant != nil
	data["RequestID"] = requestIDOf(c)
	// Buffers are reused between pages: a page is a few KB, rendered on
	// every request.
	buf, _ := a.buffers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= 64<<10 { // a huge page's buffer is not kept
			buf.Reset()
			a.buffers.Put(buf)
		}
	}()
	if err := t.Execute(buf, data); err != nil {
		a.log.Error("rendering a page", "name", name, "err", err)
		c.String(http.StatusInternalServerError, "internal error\n")
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// fail shows an error page: a short message and the request id for the
// browser; the cause goes to the log only.
func (a *App) fail(c *gin.Context, status int, title, msg string, cause error) {
	if cause != nil {
		a.log.Warn(title, "status", status, "request_id", requestIDOf(c), "route", c.FullPath(), "err", cause)
	}
	a.render(c, status, "error", pageData{"Title": title, "Message": msg})
}

func (a *App) static(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("file"), "/")
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil || strings.Contains(name, "..") {
		c.Status(http.StatusNotFound)
		return
	}
	ctype := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".svg":
		ctype = "image/svg+xml"
	}
	c.Header("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, ctype, b)
}

func (a *App) home(c *gin.Context) {
	data := pageData{"Title": "entrakit"}
	if d := newDevHome(a.cfg.DevMode, runtime.GOOS); d != nil {
		data["Dev"] = d
	}
	a.render(c, http.StatusOK, "home", data)
}

// devHome is the home page's dev-mode section (Config.DevMode): whom to
// sign in as for what, and how to trust the dev tenant's CA.
type devHome struct {
	Hints  []devHint
	CAFile string
	// CADownload is the CA as a data: URL, which the link's download
	// attribute saves (the page needs no route of its own for it).
	CADownload template.URL
	Trust      []trustStep
}

// devHint names the personas that show one thing the app does.
type devHint struct {
	Who  []DevPersona
	What string
}

// trustStep is how one OS or browser comes to trust the CA: a command, or
// steps in its settings.
type trustStep struct{ Where, Command, Steps string }

// newDevHome derives the hints from the personas' flags and roles, and the
// trust steps for goos (in dev mode the browser runs on the app's
// machine). Nil without DevModeInfo: production pages say none of this.
func newDevHome(info *DevModeInfo, goos string) *devHome {
	if info == nil {
		return nil
	}
	h := &devHome{CAFile: info.CAFile}
	if len(info.CAPEM) > 0 {
		// #nosec: the dev tenant's own certificate, base64: no markup.
		h.CADownload = template.URL("data:application/x-pem-file;base64," + base64.StdEncoding.EncodeToString(info.CAPEM))
	}
	var admins, disabled, guests []DevPersona
	byRole := map[string][]DevPersona{}
	for _, p := range info.Personas {
		switch {
		case p.Disabled:
			disabled = append(disabled, p)
		case p.Guest:
			guests = append(guests, p)
		case p.Admin:
			admins = append(admins, p)
		default:
			for _, r := range p.Roles {
				byRole[r] = append(byRole[r], p)
			}
		}
	}
	add := func(who []DevPersona, what string) {
		if len(who) > 0 {
			h.Hints = append(h.Hints, devHint{Who: who, What: what})
		}
	}
	add(admins, "a tenant administrator: open Directory, whose permission (User.Read.All) only an administrator may grant, and tick “Consent on behalf of your organization”; anyone else sees “Need admin approval” until then.")
	for _, r := range slices.Sorted(maps.Keys(byRole)) {
		add(byRole[r], "the "+r+" app role, in the ID token's roles claim: see Claims, and this page once signed in.")
	}
	add(disabled, "a disabled account: the dev tenant refuses the sign-in (AADSTS50057).")
	add(guests, "a B2B guest from another organization, signing in with the home account: the ID token's idp names the home tenant (see Claims).")
	file := info.CAFile
	if file == "" {
		file = "entrakit-devtenant-ca.pem" // where the download link saves it
	}
	h.Trust = trustSteps(goos, file)
	return h
}

// trustSteps are the one-liners that trust the CA in caFile on goos, and
// Firefox's steps (it keeps its own store on every OS).
func trustSteps(goos, caFile string) []trustStep {
	q := shellQuote(caFile)
	var steps []trustStep
	switch goos {
	case "linux":
		steps = []trustStep{
			{Where: "Debian, Ubuntu (the system: curl, Go, Python)", Command: "sudo cp " + q + " /usr/local/share/ca-certificates/entrakit-devtenant.crt && sudo update-ca-certificates"},
			{Where: "Fedora, RHEL", Command: "sudo cp " + q + " /etc/pki/ca-trust/source/anchors/entrakit-devtenant.pem && sudo update-ca-trust"},
			{Where: "Chrome, Chromium, Edge on Linux (their NSS store; certutil is in libnss3-tools)", Command: "certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n entrakit-devtenant -i " + q},
		}
	case "darwin":
		steps = []trustStep{{Where: "macOS (Safari, Chrome, Edge)", Command: "sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain " + q}}
	case "windows":
		steps = []trustStep{{Where: "Windows (Chrome, Edge)", Command: `certutil -user -addstore Root "` + caFile + `"`}}
	}
	return append(steps, trustStep{Where: "Firefox", Steps: "Settings → Privacy & Security → Certificates → View Certificates… → Authorities → Import…, choose the file, tick “Trust this CA to identify websites”."})
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("@%+=:,./_-", r)))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var meProps = []string{"id", "displayName", "givenName", "surname", "userPrincipalName", "mail", "jobTitle",
	"department", "officeLocation", "mobilePhone", "businessPhones", "preferredLanguage"}

func (a *App) me(c *gin.Context) {
	var u graphapi.Profile
	if !a.graphCall(c, nil, func(ctx context.Context, g *graphapi.Client) (err error) {
		u, err = g.Me(ctx, meProps...)
		return err
	}) {
		return
	}
	// The rows are escaped here, once, rather than value by value through
	// html/template's reflective escapers (a third of the page's cost).
	var b strings.Builder
	for _, f := range [...]struct{ label, value string }{
		{"Name", u.DisplayName},
		{"User principal name", u.UserPrincipalName},
		{"Mail", u.Mail},
		{"Job title", u.JobTitle},
		{"Department", u.Department},
		{"Office", u.OfficeLocation},
		{"Mobile", u.MobilePhone},
		{"Business phones", strings.Join(u.BusinessPhones, ", ")},
		{"Preferred language", u.PreferredLanguage},
		{"Object id", u.ID},
	} {
		if f.value != "" {
			b.WriteString(`<tr><th scope="row">`)
			b.WriteString(html.EscapeString(f.label))
			b.WriteString(`</th><td>`)
			b.WriteString(html.EscapeString(f.value))
			b.WriteString("</td></tr>\n")
		}
	}
	rows := template.HTML(b.String()) // #nosec: every value above is escaped
	a.render(c, http.StatusOK, "me", pageData{"Title": "Your profile", "Name": u.DisplayName, "Rows": rows})
}

// photo serves the user's photo from Graph, or an SVG of their initials
// when they have none, so the page's <img> always shows something.
func (a *App) photo(c *gin.Context) {
	var data []byte
	var ctype string
	var none bool
	if !a.graphCall(c, nil, func(ctx context.Context, g *graphapi.Client) (err error) {
		data, ctype, err = g.Photo(ctx, "me")
		if errors.Is(err, graphapi.ErrNotFound) {
			none, err = true, nil
		}
		return err
	}) {
		return
	}
	c.Header("Cache-Control", "private, no-store")
	mt, _, _ := mime.ParseMediaType(ctype)
	if none || (mt != "image/jpeg" && mt != "image/png" && mt != "image/gif") {
		// Only raster photos pass through: an SVG (or anything else) from
		// elsewhere could carry script; the initials SVG is ours.
		c.Data(http.StatusOK, "image/svg+xml", initialsSVG(sessionOf(c).User.Name))
		return
	}
	c.Data(http.StatusOK, mt, data)
}

func initials(name string) string {
	var out []rune
	for _, f := range strings.Fields(name) {
		r, _ := utf8.DecodeRuneInString(f)
		if unicode.IsLetter(r) {
			out = append(out, unicode.ToUpper(r))
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

func initialsSVG(name string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96" role="img" aria-label="%s">`,
		template.HTMLEscapeString(initials(name)))
	b.WriteString(`<rect width="96" height="96" rx="48" fill="#2f5d8a"/>`)
	fmt.Fprintf(&b, `<text x="48" y="58" font-family="sans-serif" font-size="34" fill="#fff" text-anchor="middle">%s</text></svg>`,
		template.HTMLEscapeString(initials(name)))
	return b.Bytes()
}

// claimRow is one claim of the ID token with what it means.
type claimRow struct {
	Name, Value, Meaning string
}

func (a *App) claims(c *gin.Context) {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(sessionOf(c).User.Claims, &m)
	rows := make([]claimRow, 0, len(m))
	for k, v := range m {
		rows = append(rows, claimRow{k, claimValue(k, v), entra.ClaimMeaning(k)})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	a.render(c, http.StatusOK, "claims", pageData{"Title": "Your ID token's claims", "Claims": rows})
}

func claimValue(name string, v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var n int64
	if json.Unmarshal(v, &n) == nil {
		if name == "exp" || name == "iat" || name == "nbf" || name == "auth_time" {
			return fmt.Sprintf("%d (%s)", n, time.Unix(n, 0).UTC().Format(time.RFC3339))
		}
		return fmt.Sprint(n)
	}
	return string(v)
}

func (a *App) directory(c *gin.Context) {
	skip := c.Query("page")
	var page graphapi.UserPage
	if !a.graphCall(c, directoryScopes, func(ctx context.Context, g *graphapi.Client) (err error) {
		page, err = g.UsersPage(ctx, graphapi.ListOptions{
			Top: 25, Select: []string{"id", "displayName", "userPrincipalName", "jobTitle", "department"},
		}, skip)
		return err
	}) {
		return
	}
	data := pageData{"Title": "Directory", "Users": page.Users, "First": skip == ""}
	if page.Next != "" {
		data["Next"] = "/directory?page=" + urlQueryEscape(page.Next)
	}
	a.render(c, http.StatusOK, "directory", data)
}

// challenge shows a claims challenge handled: with ?run=1 it calls Graph;
// if the token was revoked (CAE), Graph answers 401 with a claims challenge,
// graphCall sends the browser through sign-in with those claims, and the
// page comes back here and succeeds.
func (a *App) challenge(c *gin.Context) {
	sess := sessionOf(c)
	data := pageData{"Title": "Claims challenge", "CanRevoke": a.cfg.DevTenant != nil}
	if c.Query("run") == "1" {
		var name string
		if !a.graphCall(c, nil, func(ctx context.Context, g *graphapi.Client) error {
			me, err := g.Me(ctx, "id", "displayName")
			name = me.DisplayName
			return err
		}) {
			return
		}
		data["Called"] = true
		data["Name"] = name
		if r := sess.Reauth; r != nil && r.Reason == "claims-challenge" && r.Path == c.Request.URL.RequestURI() {
			data["Handled"] = true
			data["HandledAt"] = r.At.UTC().Format(time.RFC3339)
		}
	}
	a.render(c, http.StatusOK, "challenge", data)
}

// challengeRevoke (dev tenant only) revokes the signed-in user's sessions,
// as an administrator would with revokeSignInSessions: the next Graph call
// gets a claims challenge.
func (a *App) challengeRevoke(c *gin.Context) {
	if a.cfg.DevTenant == nil {
		a.fail(c, http.StatusNotFound, "Not available", "Revoking needs the dev tenant.", nil)
		return
	}
	u := sessionOf(c).User
	if err := a.cfg.DevTenant.RevokeUser(u.ObjectID); err != nil {
		a.fail(c, http.StatusInternalServerError, "Could not revoke", "The dev tenant refused.", err)
		return
	}
	a.log.Info("dev tenant: revoked the user's sessions", "oid", u.ObjectID)
	c.Redirect(http.StatusSeeOther, "/challenge?run=1")
}
