package webapp

import (
	"embed"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// The single-page app at /spa/: static files (msal-browser, vendored from
// npm by scripts/vendor-msal.sh and checked by TestSPAVendored) that sign
// in with PKCE in the browser and call /api/ with bearer tokens. The web
// app only serves them, with their configuration and a CSP that allows
// their own scripts and nothing else.
//
//go:embed spa/index.html spa/app.js spa/spa.css spa/msal-browser.min.js
var spaFS embed.FS

// spaConfig is /spa/config.json: what app.js builds msal-browser with.
type spaConfig struct {
	ClientID              string   `json:"clientId"`
	Authority             string   `json:"authority"`
	KnownAuthorities      []string `json:"knownAuthorities"`
	RedirectURI           string   `json:"redirectUri"`
	PostLogoutRedirectURI string   `json:"postLogoutRedirectUri"`
	APIScopes             []string `json:"apiScopes"`
	APIBase               string   `json:"apiBase"`
}

// spa serves /spa/ (nil when Config.SPAClientID is not set).
type spa struct {
	config spaConfig
	csp    string
}

func newSPA(a *App) *spa {
	if a.cfg.SPAClientID == "" {
		return nil
	}
	authority := a.cfg.Entra.Authority()
	u, _ := url.Parse(authority) // validated with the config
	s := &spa{config: spaConfig{
		ClientID: a.cfg.SPAClientID, Authority: authority, KnownAuthorities: []string{u.Host},
		RedirectURI: a.origin + "/spa/", PostLogoutRedirectURI: a.origin + "/spa/",
		APIScopes: []string{a.cfg.APIIdentifierURI + "/" + apiScope}, APIBase: "/api",
	}}
	// connect-src: msal-browser reads the authority's metadata and
	// redeems codes with fetch. No frames: app.js never renews in a hidden
	// iframe (when the refresh token no longer serves, it redirects).
	s.csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self' " +
		a.authorityOrigin() + "; frame-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
	return s
}

func (s *spa) register(r *gin.Engine) {
	r.GET("/spa", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/spa/") })
	r.GET("/spa/*file", s.serve)
}

func (s *spa) serve(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("file"), "/")
	c.Header("Content-Security-Policy", s.csp)
	switch name {
	case "", "index.html":
		// The page itself is never cached: msal-browser's redirect lands
		// here with the authorization response in the fragment.
		s.file(c, "index.html", "text/html; charset=utf-8", "no-store")
	case "config.json":
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, s.config)
	case "app.js", "msal-browser.min.js":
		s.file(c, name, "text/javascript; charset=utf-8", "no-cache")
	case "spa.css":
		s.file(c, name, "text/css; charset=utf-8", "no-cache")
	default:
		c.Data(http.StatusNotFound, "text/plain; charset=utf-8", []byte("404 page not found\n"))
	}
}

func (s *spa) file(c *gin.Context, name, ctype, cache string) {
	b, err := spaFS.ReadFile(path.Join("spa", name))
	if err != nil {
		c.Status(http.StatusNotFound)
		return
	}
	c.Header("Cache-Control", cache)
	c.Data(http.StatusOK, ctype, b)
}
