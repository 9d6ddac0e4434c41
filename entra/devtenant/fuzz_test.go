package devtenant_test

// Fuzz tests of the endpoints that take hostile input: the token form, client
// assertions and the authorize query. They go through Handler in process;
// the tenant is built once for all of them (New makes RSA keys: slow), and
// never started (no listener to leak).

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
)

// fuzzBed is the shared tenant plus real credentials for the seed corpora.
type fuzzBed struct {
	srv  *devtenant.Server
	h    http.Handler
	base string // "/" + tenant id

	certKey       *rsa.PrivateKey // registered on the daemon for private_key_jwt
	x5t, x5tS256  string
	code          string // an unredeemed web-app code, and its verifier
	verifier      string
	refreshToken  string // a web-app refresh token (from another code)
	apiToken      string // a web-API access token, for on-behalf-of
	sso           *http.Cookie
	redirectURIs  map[string]bool
	loopbackApps  map[string][]string // client id -> its registered http loopback URIs
	daemonSecret  string
	webSecret     string
	tokenAudience string
}

var fuzzBedOnce = sync.OnceValues(newFuzzBed)

func fuzzTenant(f *testing.F) *fuzzBed {
	f.Helper()
	fb, err := fuzzBedOnce()
	if err != nil {
		f.Fatal(err)
	}
	return fb
}

func newFuzzBed() (*fuzzBed, error) {
	manifest := devtenanttest.Manifest()
	srv, err := devtenant.New(devtenant.Options{Manifest: manifest})
	if err != nil {
		return nil, err
	}
	fb := &fuzzBed{srv: srv, h: srv.Handler(), base: "/" + srv.TenantID(),
		redirectURIs: map[string]bool{}, loopbackApps: map[string][]string{},
		daemonSecret: srv.ClientSecret(daemonAppID), webSecret: srv.ClientSecret(webAppID)}
	// Not started: URL() is "", so the token endpoint's own address is the path.
	fb.tokenAudience = srv.URL() + fb.base + "/oauth2/v2.0/token"
	for _, a := range srv.Applications() {
		for _, list := range [][]string{a.Web.RedirectURIs, a.SPA.RedirectURIs, a.PublicClient.RedirectURIs} {
			for _, u := range list {
				fb.redirectURIs[u] = true
			}
		}
		for _, list := range [][]string{a.Web.RedirectURIs, a.SPA.RedirectURIs, a.PublicClient.RedirectURIs} {
			for _, u := range list {
				if strings.HasPrefix(u, "http://localhost") || strings.HasPrefix(u, "http://127.0.0.1") {
					fb.loopbackApps[strings.ToLower(a.AppID)] = append(fb.loopbackApps[strings.ToLower(a.AppID)], u)
				}
			}
		}
	}

	// A certificate for the daemon's client assertions, the same in every
	// fuzz worker process, so the seeds' x5t match everywhere.
	if fb.certKey, err = fuzzKey(); err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz daemon"},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &fb.certKey.PublicKey, fb.certKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := srv.AddClientCertificate(daemonAppID, cert); err != nil {
		return nil, err
	}
	s1, s256 := sha1.Sum(der), sha256.Sum256(der)
	fb.x5t, fb.x5tS256 = base64.RawURLEncoding.EncodeToString(s1[:]), base64.RawURLEncoding.EncodeToString(s256[:])

	// A signed-in session, two codes, a refresh token and an API token.
	adele, _ := srv.Persona("AdeleV")
	code1, verifier1, sso, err := fb.signIn(adele)
	if err != nil {
		return nil, err
	}
	if fb.sso = sso; sso == nil {
		return nil, errors.New("no SSO cookie after signing in")
	}
	if fb.code, fb.verifier, _, err = fb.signIn(adele); err != nil {
		return nil, err
	}
	tok, err := fb.tokenJSON(url.Values{"grant_type": {"authorization_code"}, "client_id": {webAppID}, "client_secret": {fb.webSecret},
		"code": {code1}, "redirect_uri": {webRedirect}, "code_verifier": {verifier1}, "scope": {wireWebScope}})
	if err != nil {
		return nil, err
	}
	fb.refreshToken = tok["refresh_token"]
	if err := srv.GrantConsent(webAppID, webAppID, "", "access_as_user"); err != nil {
		return nil, err
	}
	tok, err = fb.tokenJSON(url.Values{"grant_type": {"refresh_token"}, "client_id": {webAppID}, "client_secret": {fb.webSecret},
		"refresh_token": {fb.refreshToken}, "scope": {"api://" + webAppID + "/access_as_user offline_access"}})
	if err != nil {
		return nil, err
	}
	fb.apiToken = tok["access_token"]
	return fb, nil
}

func (fb *fuzzBed) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	fb.h.ServeHTTP(rec, req)
	return rec
}

// signIn runs the authorization-code flow in process for p on the web app.
func (fb *fuzzBed) signIn(p devtenant.Persona) (code, verifier string, sso *http.Cookie, err error) {
	v, verifier := wireAuthParams(webAppID, webRedirect, wireWebScope)
	rec := fb.serve(httptest.NewRequest(http.MethodGet, fb.base+"/oauth2/v2.0/authorize?"+v.Encode(), nil))
	m := wireCtxRE.FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusOK || m == nil {
		return "", "", nil, fmt.Errorf("authorize: %d %s", rec.Code, rec.Body)
	}
	req := httptest.NewRequest(http.MethodPost, fb.base+"/login",
		strings.NewReader(url.Values{"ctx": {m[1]}, "username": {p.Username}, "password": {p.Password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = fb.serve(req)
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || loc == nil || loc.Query().Get("code") == "" {
		return "", "", nil, fmt.Errorf("sign-in: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == "ESTSAUTH" {
			sso = c
		}
	}
	return loc.Query().Get("code"), verifier, sso, nil
}

func (fb *fuzzBed) tokenJSON(form url.Values) (map[string]string, error) {
	req := httptest.NewRequest(http.MethodPost, fb.base+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := fb.serve(req)
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK {
		return nil, fmt.Errorf("token: %d %s", rec.Code, rec.Body)
	}
	return map[string]string{"access_token": out.AccessToken, "refresh_token": out.RefreshToken}, nil
}

// assertion signs a client assertion for the daemon with the registered key.
func (fb *fuzzBed) assertion(alg string, header map[string]any, claims map[string]any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return fb.sign(alg, base64.RawURLEncoding.EncodeToString(h)+"."+base64.RawURLEncoding.EncodeToString(c))
}

// sign appends an RS256 or PS256 signature of input.
func (fb *fuzzBed) sign(alg, input string) string {
	d := sha256.Sum256([]byte(input))
	var sig []byte
	if alg == "PS256" {
		sig, _ = rsa.SignPSS(rand.Reader, fb.certKey, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	} else {
		sig, _ = rsa.SignPKCS1v15(nil, fb.certKey, crypto.SHA256, d[:])
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// checkTokenAnswer: below 500, and JSON that is either a token or an Entra
// error with its AADSTS number.
func checkTokenAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		ErrorCodes  []int  `json:"error_codes"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("status %d, not JSON: %.200q", rec.Code, rec.Body)
	}
	switch {
	case rec.Code == http.StatusOK:
		if body.AccessToken == "" {
			t.Fatalf("200 without an access token: %s", rec.Body)
		}
	case rec.Code != http.StatusBadRequest && rec.Code != http.StatusUnauthorized:
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	case body.Error == "" || len(body.ErrorCodes) != 1 || !strings.HasPrefix(body.Description, fmt.Sprintf("AADSTS%d:", body.ErrorCodes[0])):
		t.Fatalf("status %d, not an Entra error: %s", rec.Code, rec.Body)
	}
}

// The seeds name the live credentials by placeholders that the fuzz function
// fills in: every fuzz worker process has its own tenant, with its own
// secrets, codes and tokens.
const (
	phDaemonSecret = "__DAEMON_SECRET__"
	phWebSecret    = "__WEB_SECRET__"
	phCode         = "__CODE__"
	phVerifier     = "__VERIFIER__"
	phRefreshToken = "__REFRESH_TOKEN__"
	phAPIToken     = "__API_TOKEN__"
)

func (fb *fuzzBed) fill(s string, escape func(string) string) string {
	return strings.NewReplacer(
		phDaemonSecret, escape(fb.daemonSecret), phWebSecret, escape(fb.webSecret),
		phCode, escape(fb.code), phVerifier, escape(fb.verifier),
		phRefreshToken, escape(fb.refreshToken), phAPIToken, escape(fb.apiToken),
	).Replace(s)
}

func FuzzTokenForm(f *testing.F) {
	fb := fuzzTenant(f)
	enc := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	f.Add(enc("grant_type", "client_credentials", "client_id", daemonAppID, "client_secret", phDaemonSecret,
		"scope", "https://graph.microsoft.com/.default openid offline_access profile"), "", "")
	f.Add(enc("grant_type", "client_credentials", "scope", "api://"+webAppID+"/.default"), daemonAppID+":"+phDaemonSecret, "")
	f.Add(enc("grant_type", "client_credentials", "client_id", daemonAppID, "client_secret", "nope", "scope", "x"), "", "")
	f.Add(enc("grant_type", "client_credentials", "client_id", webAppID, "client_secret", phWebSecret,
		"scope", "https://graph.microsoft.com/.default", "claims", `{"access_token":{"xms_cc":{"values":["CP1"]}}}`), "", "")
	f.Add(enc("grant_type", "authorization_code", "client_id", webAppID, "client_secret", phWebSecret, "code", phCode,
		"redirect_uri", webRedirect, "code_verifier", phVerifier, "scope", wireWebScope, "client_info", "1"), "", "")
	f.Add(enc("grant_type", "authorization_code", "client_id", webAppID, "code", phCode,
		"redirect_uri", webRedirect, "code_verifier", phVerifier), webAppID+":"+phWebSecret, "http://localhost:8080")
	f.Add(enc("grant_type", "refresh_token", "client_id", webAppID, "client_secret", phWebSecret,
		"refresh_token", phRefreshToken, "scope", "User.Read offline_access",
		"claims", `{"access_token":{"xms_cc":{"values":["CP1"]}}}`), "", "")
	f.Add(enc("grant_type", "refresh_token", "refresh_token", phRefreshToken, "scope", "https://graph.microsoft.com/.default"),
		webAppID+":"+phWebSecret, "")
	f.Add(enc("grant_type", "refresh_token", "client_id", webAppID, "client_secret", phWebSecret,
		"refresh_token", phRefreshToken, "scope", "api://"+webAppID+"/access_as_user", "claims", `{"id_token":{"acrs":null}}`), "", "")
	f.Add(enc("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", "requested_token_use", "on_behalf_of",
		"client_id", webAppID, "client_secret", phWebSecret, "assertion", phAPIToken, "scope", "User.Read offline_access"), "", "")
	f.Add(enc("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", "requested_token_use", "on_behalf_of",
		"client_id", daemonAppID, "client_secret", phDaemonSecret, "assertion", "a.b.c"), "", "")
	f.Add("grant_type=password&username=a&password=b", "", "")
	f.Add("grant_type=client_credentials&grant_type=client_credentials", "", "")
	f.Add("%zz=1&grant_type", ":", "null")
	f.Add("", "", "")
	tokenPath := fb.base + "/oauth2/v2.0/token"
	f.Fuzz(func(t *testing.T, body, basic, origin string) {
		req := httptest.NewRequest(http.MethodPost, tokenPath, strings.NewReader(fb.fill(body, url.QueryEscape)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user, pass, ok := strings.Cut(fb.fill(basic, func(s string) string { return s }), ":"); ok {
			req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		checkTokenAnswer(t, fb.serve(req))
	})
}

func FuzzClientAssertion(f *testing.F) {
	fb := fuzzTenant(f)
	now := time.Now()
	claims := func(aud any, exp time.Time) map[string]any {
		return map[string]any{"aud": aud, "iss": daemonAppID, "sub": daemonAppID, "jti": rand.Text(),
			"nbf": now.Unix(), "exp": exp.Unix()}
	}
	ps := map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": fb.x5tS256}
	rs := map[string]any{"alg": "RS256", "typ": "JWT", "x5t": fb.x5t}
	valid := fb.assertion("PS256", ps, claims(fb.tokenAudience, now.Add(10*time.Minute)))
	f.Add(valid, false)
	f.Add(valid, true)
	f.Add(fb.assertion("RS256", rs, claims([]string{"https://elsewhere.example", strings.ToUpper(fb.tokenAudience)}, now.Add(10*time.Minute))), true)
	f.Add(fb.assertion("RS256", rs, claims(fb.tokenAudience, now.Add(-time.Hour))), true)
	f.Add(fb.assertion("RS256", rs, claims(fb.tokenAudience, now.Add(48*time.Hour))), true)
	f.Add(fb.assertion("PS256", ps, claims(nil, now.Add(time.Minute))), true)
	f.Add(fb.assertion("PS256", ps, claims(42, now.Add(time.Minute))), true)
	f.Add(fb.assertion("PS256", ps, map[string]any{"aud": fb.tokenAudience, "iss": daemonAppID, "sub": daemonAppID, "exp": "soon"}), true)
	f.Add(fb.assertion("RS256", rs, map[string]any{"aud": fb.tokenAudience, "iss": daemonAppID, "sub": daemonAppID, "exp": now.Add(time.Minute).Unix()}), true)
	f.Add(fb.assertion("RS256", map[string]any{"alg": "RS256", "x5t": fb.x5t, "x5t#S256": "x"}, claims(fb.tokenAudience, now.Add(time.Minute))), true)
	f.Add(fb.assertion("none", map[string]any{"alg": "none"}, claims(fb.tokenAudience, now.Add(time.Minute))), false)
	f.Add(valid[:strings.LastIndexByte(valid, '.')]+".", false)
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.", false)
	f.Add("a.b.c", false)
	f.Add("..", true)
	f.Add("", false)
	f.Fuzz(func(t *testing.T, assertion string, resign bool) {
		if i := strings.LastIndexByte(assertion, '.'); resign && i >= 0 {
			// Sign what the fuzzer made with the registered key, so the
			// checks behind the signature see hostile claims too.
			alg := "RS256"
			if h, _, ok := strings.Cut(assertion, "."); ok {
				var hdr struct{ Alg string }
				if raw, err := base64.RawURLEncoding.DecodeString(h); err == nil && json.Unmarshal(raw, &hdr) == nil {
					alg = hdr.Alg
				}
			}
			assertion = fb.sign(alg, assertion[:i])
		}
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {daemonAppID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion}, "scope": {"https://graph.microsoft.com/.default"}}
		req := httptest.NewRequest(http.MethodPost, fb.base+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := fb.serve(req)
		checkTokenAnswer(t, rec)
		if rec.Code == http.StatusOK {
			if err := fb.checkAcceptable(assertion); err != nil {
				t.Fatalf("accepted a client assertion that RFC 7523 and Entra reject: %v\n%q", err, assertion)
			}
		}
	})
}

// checkAcceptable is the oracle for an accepted client assertion: RS256 or
// PS256 by the registered certificate, iss = sub = the client, aud = the
// token endpoint, exp present and at most a day ahead (5 minutes' skew),
// nbf not in the future, a jti.
func (fb *fuzzBed) checkAcceptable(jwt string) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("not three parts")
	}
	var raw [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return fmt.Errorf("part %d: %v", i, err)
		}
		raw[i] = b
	}
	var h struct {
		Alg     string `json:"alg"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	var c struct {
		Aud json.RawMessage `json:"aud"`
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Jti string          `json:"jti"`
		Exp *int64          `json:"exp"`
		Nbf *int64          `json:"nbf"`
	}
	if err := json.Unmarshal(raw[0], &h); err != nil {
		return fmt.Errorf("header: %v", err)
	}
	if err := json.Unmarshal(raw[1], &c); err != nil {
		return fmt.Errorf("claims: %v", err)
	}
	if h.X5t != fb.x5t && h.X5tS256 != fb.x5tS256 {
		return errors.New("not signed by the registered certificate")
	}
	d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch h.Alg {
	case "RS256":
		if rsa.VerifyPKCS1v15(&fb.certKey.PublicKey, crypto.SHA256, d[:], raw[2]) != nil {
			return errors.New("bad RS256 signature")
		}
	case "PS256":
		if rsa.VerifyPSS(&fb.certKey.PublicKey, crypto.SHA256, d[:], raw[2], nil) != nil {
			return errors.New("bad PS256 signature")
		}
	default:
		return fmt.Errorf("alg %q", h.Alg)
	}
	if !strings.EqualFold(c.Iss, daemonAppID) || !strings.EqualFold(c.Sub, daemonAppID) {
		return fmt.Errorf("iss %q sub %q", c.Iss, c.Sub)
	}
	var auds []string
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		auds = []string{one}
	} else if err := json.Unmarshal(c.Aud, &auds); err != nil {
		return fmt.Errorf("aud %s", c.Aud)
	}
	okAud := false
	for _, a := range auds {
		for _, seg := range []string{fb.srv.TenantID(), fb.srv.Domain()} {
			for _, ep := range []string{"/oauth2/v2.0/token", "/oauth2/token"} {
				okAud = okAud || strings.EqualFold(a, fb.srv.URL()+"/"+seg+ep)
			}
		}
		okAud = okAud || strings.EqualFold(a, fb.srv.Issuer())
	}
	if !okAud {
		return fmt.Errorf("aud %s", c.Aud)
	}
	now, skew := time.Now(), 5*time.Minute+time.Minute
	if c.Exp == nil || time.Unix(*c.Exp, 0).Before(now.Add(-skew)) || time.Unix(*c.Exp, 0).After(now.Add(24*time.Hour+time.Minute)) {
		return fmt.Errorf("exp %v", c.Exp)
	}
	if c.Nbf != nil && time.Unix(*c.Nbf, 0).After(now.Add(skew)) {
		return fmt.Errorf("nbf %d", *c.Nbf)
	}
	if c.Jti == "" {
		return errors.New("no jti")
	}
	return nil
}

func FuzzAuthorizeQuery(f *testing.F) {
	fb := fuzzTenant(f)
	seed := func(clientID, redirectURI, scope string, extra ...string) string {
		v, _ := wireAuthParams(clientID, redirectURI, scope)
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v.Encode()
	}
	f.Add(seed(webAppID, webRedirect, wireWebScope), false, false)
	f.Add(seed(webAppID, webRedirect, wireWebScope), true, false)
	f.Add(seed(webAppID, webRedirect, wireWebScope, "prompt", "none"), true, true)
	f.Add(seed(webAppID, webRedirect, wireWebScope, "prompt", "none"), false, false)
	f.Add(seed(webAppID, webRedirect, "openid User.Read.All", "prompt", "consent", "response_mode", "form_post"), true, false)
	f.Add(seed(webAppID, webRedirect, wireWebScope, "login_hint", "MeganB@contoso.onmicrosoft.com", "prompt", "select_account"), true, false)
	f.Add(seed(webAppID, webRedirect, wireWebScope, "claims", `{"access_token":{"xms_cc":{"values":["CP1"]},"acrs":{"essential":true}}}`), true, false)
	f.Add(seed(webAppID, webRedirect, wireWebScope, "claims", `{"id_token":`), true, false)
	f.Add(seed(spaAppID, "http://localhost:8080/spa/", "openid api://"+webAppID+"/access_as_user", "response_mode", "fragment"), true, false)
	f.Add(seed(spaAppID, "http://localhost:8080/spa/", "openid", "code_challenge", ""), true, false)
	f.Add(seed(cliAppID, "http://localhost:61234/", "openid offline_access User.Read", "code_challenge_method", "plain"), true, false)
	f.Add(seed(webAppID, webRedirect, "User.Read api://"+webAppID+"/.default", "response_type", "code id_token"), true, false)
	f.Add(seed(webAppID, "http://localhost:8080/evil", wireWebScope), true, false)
	f.Add(seed(webAppID, webRedirect, wireWebScope, "response_mode", "jsonp", "prompt", "bogus"), false, false)
	f.Add("client_id="+webAppID+"&redirect_uri="+url.QueryEscape(webRedirect), false, false)
	f.Add("client_id=%zz;x=1", false, false)
	f.Add("", false, true)
	path := fb.base + "/oauth2/v2.0/authorize"
	f.Fuzz(func(t *testing.T, rawQuery string, withSession, post bool) {
		var req *http.Request
		if post {
			req = httptest.NewRequest(http.MethodPost, path, strings.NewReader(rawQuery))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(http.MethodGet, path, nil)
			req.URL.RawQuery = rawQuery // NewRequest would panic on a bad request line
		}
		if withSession {
			req.AddCookie(fb.sso)
		}
		rec := fb.serve(req)
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		switch rec.Code {
		case http.StatusOK:
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Fatalf("200 with Content-Type %q", ct)
			}
		case http.StatusBadRequest, http.StatusForbidden:
			if !strings.Contains(rec.Body.String(), "data-aadsts=") {
				t.Fatalf("status %d without an AADSTS page: %.300s", rec.Code, rec.Body)
			}
		case http.StatusFound:
			if err := fb.checkRedirect(rawQuery, rec.Header().Get("Location")); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("status %d: %.300s", rec.Code, rec.Body)
		}
	})
}

// checkRedirect: the authorize endpoint only ever redirects to the
// redirect_uri of the request, registered for its client, and echoes state.
func (fb *fuzzBed) checkRedirect(rawQuery, location string) error {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return fmt.Errorf("redirected although the query does not parse (%v): %q", err, location)
	}
	loc, err := url.Parse(location)
	if err != nil {
		return fmt.Errorf("bad Location %q: %v", location, err)
	}
	params := loc.Query()
	if loc.Fragment != "" {
		params, _ = url.ParseQuery(loc.Fragment)
	}
	target := *loc
	target.RawQuery, target.Fragment, target.ForceQuery = "", "", false
	want := q.Get("redirect_uri")
	if target.String() != want {
		return fmt.Errorf("redirected to %q, the request's redirect_uri is %q", location, want)
	}
	registered := fb.redirectURIs[want]
	for _, r := range fb.loopbackApps[strings.ToLower(q.Get("client_id"))] {
		// http loopback URIs: any port; scheme, host and path as registered.
		ru, _ := url.Parse(r)
		samePath := ru.Path == target.Path || (ru.Path == "" && target.Path == "/") || (ru.Path == "/" && target.Path == "")
		registered = registered || (target.Scheme == "http" && target.Hostname() == ru.Hostname() &&
			target.Port() != "" && samePath && target.User == nil)
	}
	if !registered {
		return fmt.Errorf("redirected to an unregistered URI %q", location)
	}
	if st := q.Get("state"); st != "" && params.Get("state") != st {
		return fmt.Errorf("state %q not echoed: %q", st, location)
	}
	if params.Get("code") == "" && params.Get("error") == "" {
		return fmt.Errorf("redirect with neither code nor error: %q", location)
	}
	return nil
}

// fuzzKey derives a fixed RSA-2048 key from a fixed seed (rsa.GenerateKey
// ignores its reader since Go 1.26), so every fuzz worker has the same one.
func fuzzKey() (*rsa.PrivateKey, error) {
	rng := mrand.NewChaCha8([32]byte{'e', 'n', 't', 'r', 'a', 'k', 'i', 't', ' ', 'f', 'u', 'z', 'z'})
	e, one, two := big.NewInt(65537), big.NewInt(1), big.NewInt(2)
	prime := func() *big.Int {
		b := make([]byte, 128)
		_, _ = rng.Read(b)
		b[0] |= 0xc0
		b[127] |= 1
		p := new(big.Int).SetBytes(b)
		for {
			pm1 := new(big.Int).Sub(p, one)
			if p.ProbablyPrime(20) && new(big.Int).GCD(nil, nil, e, pm1).Cmp(one) == 0 {
				return p
			}
			p.Add(p, two)
		}
	}
	p, q := prime(), prime()
	phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: 65537},
		D:         new(big.Int).ModInverse(e, phi),
		Primes:    []*big.Int{p, q},
	}
	k.Precompute()
	return k, k.Validate()
}
