package devtenant_test

// The Microsoft Graph slice of the dev tenant, driven with raw HTTP on its
// own listener and judged by what real Graph sends
// (shared/reference/entra-protocol-facts.md §5). The real msgraph-sdk-go is
// exercised in graphapi; the emulator itself never imports it.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/entrakit/entrakit/entra/devtenant"
)

const (
	graphJSONType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
	graphMetadata = "https://graph.microsoft.com/v1.0/$metadata#"
	// graphChallenge is how Graph's 401 WWW-Authenticate begins.
	graphChallenge = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`
	forbiddenMsg   = "Insufficient privileges to complete the operation."
	// unknownID is a well-formed object id no directory object has.
	unknownID = "00000000-0000-4000-8000-000000000000"
)

var graphDateRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`)

// graphAPI calls the Graph emulator of srv over HTTPS.
type graphAPI struct {
	srv    *devtenant.Server
	client *http.Client
}

func newGraphAPI(srv *devtenant.Server) graphAPI { return graphAPI{srv: srv, client: srv.Client()} }

// startGraph starts a tenant with extraUsers generated users (0: the
// personas only) and returns it, its Graph API and a daemon app token.
func startGraph(t *testing.T, extraUsers int) (*devtenant.Server, graphAPI, string) {
	t.Helper()
	srv := startTenant(t)
	if extraUsers > 0 {
		if err := srv.GenerateDirectory(extraUsers); err != nil {
			t.Fatal(err)
		}
	}
	return srv, newGraphAPI(srv), graphAppToken(t, srv, daemonAppID, graphDefault)
}

// gReq is one request to the Graph emulator.
type gReq struct {
	method string // default GET
	target string // a path under /v1.0 ("/users?$top=1"), or an absolute URL
	token  string // "" sends no Authorization
	auth   string // a raw Authorization header instead of "Bearer " + token
	body   []byte
	header map[string]string
	noCID  bool // send no client-request-id
	// raw: a successful answer is not OData JSON (photo bytes, $count,
	// userinfo); its errors still are.
	raw bool
}

type graphResp struct {
	status int
	header http.Header
	body   []byte
	cid    string // the client-request-id sent
	target string
}

// do sends r and checks the headers Graph puts on every answer: request-id,
// client-request-id (the one sent, echoed), and for JSON answers the OData
// Content-Type and OData-Version; an error answer must be Graph's error JSON.
func (g graphAPI) do(t *testing.T, r gReq) graphResp {
	t.Helper()
	target := r.target
	if strings.HasPrefix(target, "/") {
		target = g.srv.GraphURL() + "/v1.0" + target
	}
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case r.auth != "":
		req.Header.Set("Authorization", r.auth)
	case r.token != "":
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	cid := ""
	if !r.noCID {
		cid = wireGUID()
		req.Header.Set("client-request-id", cid)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, b := send(t, g.client, req)
	out := graphResp{status: resp.StatusCode, header: resp.Header, body: b, cid: cid, target: method + " " + r.target}
	if rid := resp.Header.Get("request-id"); !guidRE.MatchString(rid) {
		t.Errorf("%s: request-id = %q, want a GUID", out.target, rid)
	}
	switch got := resp.Header.Get("client-request-id"); {
	case cid != "" && got != cid:
		t.Errorf("%s: client-request-id = %q, want the one sent, %q", out.target, got, cid)
	case cid == "" && got == "":
		t.Errorf("%s: no client-request-id in the answer", out.target)
	}
	if !r.raw || resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != graphJSONType {
			t.Errorf("%s (%d): Content-Type = %q, want %q", out.target, resp.StatusCode, ct, graphJSONType)
		}
		if v := resp.Header.Get("OData-Version"); v != "4.0" {
			t.Errorf("%s (%d): OData-Version = %q, want 4.0", out.target, resp.StatusCode, v)
		}
	}
	if resp.StatusCode >= 400 {
		checkGraphErrorShape(t, out.target, resp.Header, b)
	}
	return out
}

func (g graphAPI) get(t *testing.T, token, target string, header ...string) graphResp {
	t.Helper()
	return g.do(t, gReq{target: target, token: token, header: pairs(t, header)})
}

func pairs(t *testing.T, kv []string) map[string]string {
	t.Helper()
	if len(kv)%2 != 0 {
		t.Fatalf("odd header list %q", kv)
	}
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// obj decodes a JSON object body.
func (r graphResp) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("%s: body is not a JSON object: %v: %.300s", r.target, err, r.body)
	}
	return m
}

// ok fails the test unless the answer is 200, and returns the object.
func (r graphResp) ok(t *testing.T) map[string]any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200: %.500s", r.target, r.status, r.body)
	}
	return r.obj(t)
}

// checkGraphErrorShape: {"error":{"code","message","innerError":{"date",
// "request-id","client-request-id"}}}, nothing else at the top, the message
// never empty (msgraph-sdk-go panics without one), the ids those of the
// headers.
func checkGraphErrorShape(t testing.TB, what string, h http.Header, body []byte) {
	t.Helper()
	if err := graphErrorShape(h, body); err != nil {
		t.Errorf("%s: %v: %.500s", what, err, body)
	}
}

func graphErrorShape(h http.Header, body []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return fmt.Errorf("error body is not a JSON object: %v", err)
	}
	if len(top) != 1 || top["error"] == nil {
		return fmt.Errorf("error body has keys %v, want only \"error\"", slices.Sorted(mapKeys(top)))
	}
	var e struct {
		Code       *string            `json:"code"`
		Message    *string            `json:"message"`
		InnerError map[string]*string `json:"innerError"`
	}
	if err := json.Unmarshal(top["error"], &e); err != nil {
		return fmt.Errorf("error: %v", err)
	}
	switch {
	case e.Code == nil || *e.Code == "":
		return fmt.Errorf("error.code missing")
	case e.Message == nil || *e.Message == "":
		return fmt.Errorf("error.message missing or empty")
	case e.InnerError == nil:
		return fmt.Errorf("error.innerError missing")
	}
	date, rid, cid := e.InnerError["date"], e.InnerError["request-id"], e.InnerError["client-request-id"]
	switch {
	case date == nil || !graphDateRE.MatchString(*date):
		return fmt.Errorf("innerError.date = %v, want yyyy-mm-ddThh:mm:ss", deref(date))
	case rid == nil || *rid == "" || *rid != h.Get("request-id"):
		return fmt.Errorf("innerError.request-id = %q, header request-id %q", deref(rid), h.Get("request-id"))
	case cid == nil || *cid == "" || *cid != h.Get("client-request-id"):
		return fmt.Errorf("innerError.client-request-id = %q, header client-request-id %q", deref(cid), h.Get("client-request-id"))
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func mapKeys[M ~map[string]V, V any](m M) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// wantError checks the status, error code and (when msg is not empty) the
// exact message of an error answer.
func (r graphResp) wantError(t *testing.T, status int, code, msg string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d: %.500s", r.target, r.status, status, r.body)
		return nil
	}
	e, _ := r.obj(t)["error"].(map[string]any)
	if e["code"] != code {
		t.Errorf("%s: error.code = %v, want %s", r.target, e["code"], code)
	}
	if msg != "" && e["message"] != msg {
		t.Errorf("%s: error.message = %q, want %q", r.target, e["message"], msg)
	}
	return e
}

// keys returns the sorted keys of an object.
func keys(m map[string]any) []string { return slices.Sorted(mapKeys(m)) }

func values(t *testing.T, page map[string]any) []map[string]any {
	t.Helper()
	arr, ok := page["value"].([]any)
	if !ok {
		t.Fatalf("no value array in %v", page)
	}
	out := make([]map[string]any, 0, len(arr))
	for _, v := range arr {
		o, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("value holds a %T, want objects", v)
		}
		out = append(out, o)
	}
	return out
}

// odataQuery percent-encodes a $filter or $search value as msgraph-sdk-go
// does (%20 for spaces, never +).
func odataQuery(v string) string { return strings.ReplaceAll(url.QueryEscape(v), "+", "%20") }

// listAll follows @odata.nextLink from first to the end and returns every
// object and the pages. Each nextLink must be absolute on the emulator's own
// host and carry $skiptoken.
func (g graphAPI) listAll(t *testing.T, token, first string, header ...string) (all []map[string]any, pages []map[string]any) {
	t.Helper()
	target := first
	for range 200 {
		page := g.get(t, token, target, header...).ok(t)
		pages = append(pages, page)
		all = append(all, values(t, page)...)
		next, _ := page["@odata.nextLink"].(string)
		if next == "" {
			return all, pages
		}
		g.checkNextLink(t, next, "$skiptoken")
		target = next
	}
	t.Fatalf("%s: more than 200 pages", first)
	return nil, nil
}

// checkNextLink: absolute, on the emulator's Graph host (the SDK follows it
// as given), with the token parameter spelled with a literal $.
func (g graphAPI) checkNextLink(t *testing.T, link, param string) url.Values {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, g.srv.GraphURL()+"/v1.0/") {
		t.Fatalf("link %q is not absolute on %s/v1.0/", link, g.srv.GraphURL())
	}
	if !strings.Contains(link, param+"=") {
		t.Errorf("link %q has no %s=", link, param)
	}
	q := u.Query()
	if q.Get(param) == "" {
		t.Errorf("link %q: empty %s", link, param)
	}
	return q
}

func ids(objs []map[string]any) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		id, _ := o["id"].(string)
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// sameIDs checks that got holds exactly want, each once.
func sameIDs(t *testing.T, what string, got []map[string]any, want []string) {
	t.Helper()
	g := ids(got)
	w := slices.Sorted(slices.Values(want))
	if slices.Equal(g, w) {
		return
	}
	seen := map[string]int{}
	for _, id := range g {
		seen[id]++
	}
	var dup, missing, extra []string
	for id, n := range seen {
		if n > 1 {
			dup = append(dup, id)
		}
	}
	wantSet := map[string]bool{}
	for _, id := range w {
		wantSet[id] = true
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id := range seen {
		if !wantSet[id] {
			extra = append(extra, id)
		}
	}
	t.Errorf("%s: %d objects, want %d; %d duplicated %.3q, %d missing %.3q, %d unexpected %.3q",
		what, len(g), len(w), len(dup), dup, len(missing), missing, len(extra), extra)
}

// graphAppToken gets an app-only token through azidentity's
// ClientSecretCredential (a new credential each time: no cache shared).
func graphAppToken(t *testing.T, srv *devtenant.Server, appID, scope string) string {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(srv.TenantID(), appID, srv.ClientSecret(appID),
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azClientOptions(srv), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(testContext(t), policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// graphUserToken signs alias in to the CLI app (MSAL public client,
// interactive, User.Read; MSAL adds openid profile offline_access) and
// returns the Graph access token and the ID token's sub. capabilities are
// MSAL's client capabilities ("cp1" for CAE).
func graphUserToken(t *testing.T, srv *devtenant.Server, alias string, capabilities ...string) (accessToken, idSub string) {
	t.Helper()
	ctx := testContext(t)
	p := persona(t, srv, alias)
	opts := []public.Option{public.WithAuthority(srv.Authority()), public.WithHTTPClient(srv.Client()), public.WithInstanceDiscovery(false)}
	if len(capabilities) > 0 {
		opts = append(opts, public.WithClientCapabilities(capabilities))
	}
	app, err := public.New(cliAppID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	openURL := func(u string) error {
		resp, err := srv.NewBrowser(p.Username, p.Password).Authorize(ctx, u)
		if err != nil {
			return err
		}
		hr, err := resp.Deliver(ctx, http.DefaultClient)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, hr.Body)
		hr.Body.Close()
		if hr.StatusCode != http.StatusOK {
			return fmt.Errorf("MSAL's listener answered %s", hr.Status)
		}
		return nil
	}
	res, err := app.AcquireTokenInteractive(ctx, []string{"User.Read"}, public.WithOpenURL(openURL))
	if err != nil {
		t.Fatal(err)
	}
	return res.AccessToken, res.IDToken.Subject
}

func TestGraphAuthorization(t *testing.T) {
	srv := startTenant(t)
	g := newGraphAPI(srv)
	daemon := graphAppToken(t, srv, daemonAppID, graphDefault)
	web := graphAppToken(t, srv, webAppID, graphDefault) // no Graph application roles
	api := graphAppToken(t, srv, daemonAppID, "api://"+webAppID+"/.default")
	adele, _ := graphUserToken(t, srv, "AdeleV") // delegated User.Read only
	grady := persona(t, srv, "GradyA")

	if c := claimsOf(t, web); c["aud"] != "https://graph.microsoft.com" || c["roles"] != nil {
		t.Fatalf("web app token claims = %v, want a Graph token without roles", c)
	}

	t.Run("401 InvalidAuthenticationToken", func(t *testing.T) {
		parts := strings.Split(daemon, ".")
		forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"https://graph.microsoft.com","roles":["User.Read.All"],"exp":4102444800}`)) + "." + parts[2]
		tests := []struct {
			name, auth string
		}{
			{"no token", ""},
			{"empty bearer", "Bearer "},
			{"basic", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))},
			{"garbage", "Bearer not-a-token"},
			{"garbage JWT", "Bearer eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0."},
			{"forged payload", "Bearer " + forged},
			{"another audience (the web API)", "Bearer " + api},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				for _, target := range []string{"/users", "/me", "/organization", "/$batch"} {
					rq := gReq{target: target, auth: tc.auth}
					if target == "/$batch" {
						rq.method, rq.body = http.MethodPost, []byte(`{"requests":[]}`)
					}
					r := g.do(t, rq)
					r.wantError(t, http.StatusUnauthorized, "InvalidAuthenticationToken", "")
					if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, graphChallenge) {
						t.Errorf("%s: WWW-Authenticate = %q, want it to start with %q", r.target, h, graphChallenge)
					}
				}
			})
		}
		if c := claimsOf(t, api); c["aud"] == "https://graph.microsoft.com" {
			t.Errorf("the web API token's aud is Graph: %v", c)
		}
	})

	t.Run("403 Authorization_RequestDenied", func(t *testing.T) {
		tests := []struct {
			name, token, method, target string
		}{
			{"delegated User.Read lists users", adele, "", "/users"},
			{"delegated User.Read reads another user", adele, "", "/users/" + grady.OID},
			{"delegated User.Read reads another user by UPN", adele, "", "/users/" + grady.Username},
			{"delegated User.Read users delta", adele, "", "/users/delta"},
			{"delegated User.Read groups", adele, "", "/groups"},
			{"delegated User.Read applications", adele, "", "/applications"},
			{"delegated User.Read $count", adele, "", "/users/$count"},
			{"app without roles lists users", web, "", "/users"},
			{"app without roles reads a user", web, "", "/users/" + grady.OID},
			{"app without Application.Read.All: applications", web, "", "/applications"},
			{"app without Application.Read.All: servicePrincipals", web, "", "/servicePrincipals"},
			{"app without GroupMember.Read.All: groups", web, "", "/groups"},
			{"app without roles: organization", web, "", "/organization"},
			{"daemon creates a user (needs User.ReadWrite.All)", daemon, http.MethodPost, "/users"},
			{"daemon updates a user", daemon, http.MethodPatch, "/users/" + grady.OID},
			{"daemon deletes a user", daemon, http.MethodDelete, "/users/" + grady.OID},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var body []byte
				switch tc.method {
				case http.MethodPost:
					body = []byte(`{"accountEnabled":true,"displayName":"X","mailNickname":"x","userPrincipalName":"x@` + srv.Domain() + `","passwordProfile":{"password":"P@ssw0rd-1234"}}`)
				case http.MethodPatch:
					body = []byte(`{"jobTitle":"Boss"}`)
				}
				g.do(t, gReq{method: tc.method, target: tc.target, token: tc.token, body: body}).
					wantError(t, http.StatusForbidden, "Authorization_RequestDenied", forbiddenMsg)
			})
		}
		// Nothing changed.
		r := g.get(t, daemon, "/users/"+grady.OID+"?$select=jobTitle").ok(t)
		if r["jobTitle"] != "Designer" {
			t.Errorf("jobTitle after a refused PATCH = %v", r["jobTitle"])
		}
	})

	t.Run("404 Request_ResourceNotFound", func(t *testing.T) {
		for _, target := range []string{
			"/users/" + unknownID,
			"/users/nobody@" + srv.Domain(),
			"/users/" + unknownID + "/memberOf",
			"/groups/" + unknownID,
			"/groups/" + unknownID + "/members",
			"/groups/" + unknownID + "/transitiveMembers",
		} {
			e := g.get(t, daemon, target).wantError(t, http.StatusNotFound, "Request_ResourceNotFound", "")
			if e != nil && !strings.Contains(str(e["message"]), "does not exist") {
				t.Errorf("%s: message %q", target, e["message"])
			}
		}
		r := g.get(t, daemon, "/users/"+unknownID)
		if e := r.wantError(t, http.StatusNotFound, "Request_ResourceNotFound", ""); e != nil {
			want := "Resource '" + unknownID + "' does not exist or one of its queried reference-property objects are not present."
			if e["message"] != want {
				t.Errorf("message = %q, want %q", e["message"], want)
			}
		}
	})

	t.Run("/me with an app token is 400", func(t *testing.T) {
		for _, target := range []string{"/me", "/me/photo", "/me/photo/$value", "/me/memberOf"} {
			g.do(t, gReq{target: target, token: daemon, raw: strings.HasSuffix(target, "$value")}).
				wantError(t, http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
		}
	})

	t.Run("unknown segment", func(t *testing.T) {
		g.get(t, daemon, "/nosuchthing").wantError(t, http.StatusBadRequest, "BadRequest", "Resource not found for the segment 'nosuchthing'.")
		g.do(t, gReq{method: http.MethodPut, target: "/users", token: daemon, body: []byte(`{}`)}).
			wantError(t, http.StatusBadRequest, "BadRequest", "")
	})

	t.Run("client-request-id", func(t *testing.T) {
		// do checks the echo; without one, the answer still carries one.
		r := g.do(t, gReq{target: "/organization", token: daemon, noCID: true})
		r.ok(t)
		if cid := r.header.Get("client-request-id"); !guidRE.MatchString(cid) {
			t.Errorf("client-request-id without one sent = %q", cid)
		}
		e := g.do(t, gReq{target: "/users/" + unknownID, token: daemon, noCID: true}).wantError(t, http.StatusNotFound, "Request_ResourceNotFound", "")
		if inner, _ := e["innerError"].(map[string]any); inner["client-request-id"] == "" {
			t.Errorf("innerError = %v", inner)
		}
		// Two answers never share a request-id.
		a, b := g.get(t, daemon, "/organization"), g.get(t, daemon, "/organization")
		if a.header.Get("request-id") == b.header.Get("request-id") {
			t.Error("two requests got the same request-id")
		}
	})

	t.Run("injected 503 and 504", func(t *testing.T) {
		srv.InjectFault(devtenant.Fault{Endpoint: "graph", Status: http.StatusServiceUnavailable, Count: 1})
		g.get(t, daemon, "/organization").wantError(t, http.StatusServiceUnavailable, "ServiceUnavailable", "")
		g.get(t, daemon, "/organization").ok(t)

		srv.InjectFault(devtenant.Fault{Endpoint: "graph", Status: http.StatusGatewayTimeout, Count: 1, RetryAfter: 7 * time.Second})
		r := g.get(t, daemon, "/users?$top=1")
		r.wantError(t, http.StatusGatewayTimeout, "GatewayTimeout", "")
		if ra := r.header.Get("Retry-After"); ra != "7" {
			t.Errorf("Retry-After = %q, want 7", ra)
		}
		g.get(t, daemon, "/users?$top=1").ok(t)

		// A fault of the token endpoint leaves Graph alone.
		srv.InjectFault(devtenant.Fault{Endpoint: "token", Status: http.StatusServiceUnavailable, Count: 1})
		g.get(t, daemon, "/organization").ok(t)
		srv.ClearFaults()
	})

	// Last: it moves the tenant's clock past every token's lifetime.
	t.Run("expired token", func(t *testing.T) {
		srv.AdvanceClock(2 * time.Hour)
		for _, tok := range []string{daemon, adele} {
			r := g.get(t, tok, "/organization")
			r.wantError(t, http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
			if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, graphChallenge) {
				t.Errorf("WWW-Authenticate = %q", h)
			}
		}
		// A token issued at the new time works.
		g.get(t, graphAppToken(t, srv, daemonAppID, graphDefault), "/organization").ok(t)
	})
}

func TestGraphMe(t *testing.T) {
	srv := startTenant(t)
	g := newGraphAPI(srv)
	adele := persona(t, srv, "AdeleV")
	tok, idSub := graphUserToken(t, srv, "AdeleV")

	t.Run("me", func(t *testing.T) {
		me := g.get(t, tok, "/me").ok(t)
		if me["@odata.context"] != graphMetadata+"users/$entity" {
			t.Errorf("@odata.context = %v", me["@odata.context"])
		}
		if me["id"] != adele.OID || me["userPrincipalName"] != adele.Username || me["displayName"] != "Adele Vance" ||
			me["jobTitle"] != "Retail Manager" || me["givenName"] != "Adele" || me["surname"] != "Vance" {
			t.Errorf("me = %v", me)
		}
		// Graph's default user properties, and no others.
		want := []string{"@odata.context", "businessPhones", "displayName", "givenName", "id", "jobTitle", "mail",
			"mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName"}
		if got := keys(me); !slices.Equal(got, want) {
			t.Errorf("properties = %v, want %v", got, want)
		}
		if _, ok := me["businessPhones"].([]any); !ok {
			t.Errorf("businessPhones = %#v, want an array", me["businessPhones"])
		}
	})

	t.Run("me $select", func(t *testing.T) {
		me := g.get(t, tok, "/me?$select=displayName,jobTitle,accountEnabled").ok(t)
		if got, want := keys(me), []string{"@odata.context", "accountEnabled", "displayName", "jobTitle"}; !slices.Equal(got, want) {
			t.Errorf("properties = %v, want %v", got, want)
		}
		if me["@odata.context"] != graphMetadata+"users(displayName,jobTitle,accountEnabled)/$entity" {
			t.Errorf("@odata.context = %v", me["@odata.context"])
		}
		if me["displayName"] != "Adele Vance" || me["jobTitle"] != "Retail Manager" || me["accountEnabled"] != true {
			t.Errorf("me = %v", me)
		}
		// As msgraph-sdk-go sends it: %24select.
		me = g.get(t, tok, "/me?%24select=id,mail").ok(t)
		if got := keys(me); !slices.Equal(got, []string{"@odata.context", "id", "mail"}) || me["mail"] != adele.Username {
			t.Errorf("me = %v", me)
		}
		g.get(t, tok, "/me?$select=shoeSize").wantError(t, http.StatusBadRequest, "Request_BadRequest",
			"Could not find a property named 'shoeSize' on type 'microsoft.graph.user'.")
	})

	t.Run("the signed-in user by id", func(t *testing.T) {
		// User.Read covers the signed-in user under /users/{id} too.
		u := g.get(t, tok, "/users/"+adele.OID+"?$select=id").ok(t)
		if u["id"] != adele.OID {
			t.Errorf("user = %v", u)
		}
	})

	t.Run("photo", func(t *testing.T) {
		meta := g.get(t, tok, "/me/photo").ok(t)
		if meta["@odata.mediaContentType"] != "image/png" || meta["height"] != 96.0 || meta["width"] != 96.0 ||
			!strings.HasPrefix(str(meta["@odata.context"]), graphMetadata) {
			t.Errorf("photo metadata = %v", meta)
		}
		r := g.do(t, gReq{target: "/me/photo/$value", token: tok, raw: true})
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
			t.Fatalf("photo: status %d, Content-Type %q", r.status, r.header.Get("Content-Type"))
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(r.body))
		if err != nil || cfg.Width != 96 || cfg.Height != 96 {
			t.Errorf("photo is not a 96x96 PNG: %v %+v", err, cfg)
		}
		var want []byte
		for _, u := range srv.Users() {
			if u.ID == adele.OID {
				want = u.Photo
			}
		}
		if !bytes.Equal(r.body, want) {
			t.Errorf("photo bytes (%d) are not Adele's (%d)", len(r.body), len(want))
		}
		if n, _ := strconv.Atoi(r.header.Get("Content-Length")); n != len(want) {
			t.Errorf("Content-Length = %q", r.header.Get("Content-Length"))
		}
	})

	t.Run("no photo", func(t *testing.T) {
		grady, _ := graphUserToken(t, srv, "GradyA")
		for _, target := range []string{"/me/photo", "/me/photo/$value"} {
			g.do(t, gReq{target: target, token: grady, raw: true}).wantError(t, http.StatusNotFound, "ImageNotFound", "")
		}
	})

	t.Run("memberOf", func(t *testing.T) {
		page := g.get(t, tok, "/me/memberOf").ok(t)
		if page["@odata.context"] != graphMetadata+"directoryObjects" {
			t.Errorf("@odata.context = %v", page["@odata.context"])
		}
		var names []string
		for _, o := range values(t, page) {
			if o["@odata.type"] != "#microsoft.graph.group" {
				t.Errorf("member of %v: @odata.type = %v", o["displayName"], o["@odata.type"])
			}
			names = append(names, str(o["displayName"]))
		}
		sort.Strings(names)
		if !slices.Equal(names, []string{"All Company", "Retail"}) {
			t.Errorf("memberOf = %v", names)
		}
	})

	t.Run("delegated User.Read cannot list", func(t *testing.T) {
		g.get(t, tok, "/users").wantError(t, http.StatusForbidden, "Authorization_RequestDenied", forbiddenMsg)
	})

	t.Run("organization", func(t *testing.T) {
		page := g.get(t, tok, "/organization").ok(t)
		if v := values(t, page); len(v) != 1 || v[0]["id"] != srv.TenantID() {
			t.Errorf("organization = %v", page)
		}
	})

	t.Run("userinfo", func(t *testing.T) {
		if idSub == "" {
			t.Fatal("no sub in the ID token")
		}
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			r := g.do(t, gReq{method: method, target: srv.GraphURL() + "/oidc/userinfo", token: tok, raw: true})
			if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Fatalf("%s userinfo: %d %q %s", method, r.status, r.header.Get("Content-Type"), r.body)
			}
			info := r.obj(t)
			// Pairwise: the ID token's sub for this app, not the access
			// token's (which is Graph's).
			if info["sub"] != idSub {
				t.Errorf("userinfo sub = %v, want the ID token's %s", info["sub"], idSub)
			}
			if info["sub"] == claimsOf(t, tok)["sub"] {
				t.Errorf("userinfo sub is the Graph access token's sub")
			}
			if info["name"] != "Adele Vance" {
				t.Errorf("userinfo = %v", info)
			}
		}
		daemon := graphAppToken(t, srv, daemonAppID, graphDefault)
		r := g.do(t, gReq{target: srv.GraphURL() + "/oidc/userinfo", token: daemon, raw: true})
		r.wantError(t, http.StatusUnauthorized, "InvalidAuthenticationToken", "")
		if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer ") {
			t.Errorf("WWW-Authenticate = %q", h)
		}
	})
}

func TestGraphUsers(t *testing.T) {
	srv, g, tok := startGraph(t, 2500)
	users := srv.Users()
	if len(users) != 2518 {
		t.Fatalf("%d users, want 18 personas + 2500", len(users))
	}
	where := func(keep func(devtenant.User) bool) []string {
		var out []string
		for _, u := range users {
			if keep(u) {
				out = append(out, u.ID)
			}
		}
		return out
	}
	all := where(func(devtenant.User) bool { return true })
	disabled := where(func(u devtenant.User) bool { return !u.AccountEnabled })
	if len(disabled) != 27 { // 26 synthetic (index%97 == 0) and LynneR
		t.Fatalf("%d disabled users, want 27", len(disabled))
	}
	byUPN := map[string]devtenant.User{}
	for _, u := range users {
		byUPN[u.UserPrincipalName] = u
	}
	eventual := []string{"ConsistencyLevel", "eventual"}

	t.Run("every user once, $top=999", func(t *testing.T) {
		got, pages := g.listAll(t, tok, "/users?$top=999")
		sameIDs(t, "users", got, all)
		if len(pages) != 3 {
			t.Errorf("%d pages, want 3", len(pages))
		}
		for i, p := range pages {
			if n := len(values(t, p)); n > 999 || (i < len(pages)-1 && n != 999) {
				t.Errorf("page %d has %d users", i, n)
			}
			if p["@odata.context"] != graphMetadata+"users" {
				t.Errorf("page %d @odata.context = %v", i, p["@odata.context"])
			}
			if _, ok := p["@odata.count"]; ok {
				t.Errorf("page %d has @odata.count without $count", i)
			}
		}
	})

	t.Run("default page size", func(t *testing.T) {
		page := g.get(t, tok, "/users").ok(t)
		if n := len(values(t, page)); n != 100 {
			t.Errorf("%d users on the default page, want 100", n)
		}
		next, _ := page["@odata.nextLink"].(string)
		q := g.checkNextLink(t, next, "$skiptoken")
		if strings.Contains(next, "%24") {
			t.Errorf("nextLink %q encodes $", next)
		}
		if u, _ := url.Parse(next); u.Path != "/v1.0/users" {
			t.Errorf("nextLink path %q", u.Path)
		}
		if q.Has("$top") {
			t.Errorf("nextLink %q invents a $top", next)
		}
		got, _ := g.listAll(t, tok, "/users")
		sameIDs(t, "users, default pages", got, all)
	})

	t.Run("$top bounds", func(t *testing.T) {
		g.get(t, tok, "/users?$top=1000").wantError(t, http.StatusBadRequest, "Request_BadRequest",
			"Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.")
		g.get(t, tok, "/users?$top=0").wantError(t, http.StatusBadRequest, "Request_BadRequest", "")
		g.get(t, tok, "/users?$top=abc").wantError(t, http.StatusBadRequest, "Request_BadRequest", "")
		if n := len(values(t, g.get(t, tok, "/users?$top=1").ok(t))); n != 1 {
			t.Errorf("$top=1 gave %d", n)
		}
	})

	t.Run("$select", func(t *testing.T) {
		got, pages := g.listAll(t, tok, "/users?$select=id,displayName&$top=999")
		sameIDs(t, "users", got, all)
		for _, o := range got {
			if k := keys(o); !slices.Equal(k, []string{"displayName", "id"}) {
				t.Fatalf("user properties %v, want [displayName id]", k)
			}
		}
		if pages[0]["@odata.context"] != graphMetadata+"users(id,displayName)" {
			t.Errorf("@odata.context = %v", pages[0]["@odata.context"])
		}
		one := values(t, g.get(t, tok, "/users?%24select=accountEnabled,department&%24top=1").ok(t))
		if len(one) != 1 || !slices.Equal(keys(one[0]), []string{"accountEnabled", "department"}) {
			t.Errorf("%%24select: %v", one)
		}
		g.get(t, tok, "/users?$select=id,shoeSize").wantError(t, http.StatusBadRequest, "Request_BadRequest",
			"Could not find a property named 'shoeSize' on type 'microsoft.graph.user'.")
	})

	t.Run("get by id and UPN", func(t *testing.T) {
		u := byUPN["user000042@"+srv.Domain()]
		for _, key := range []string{u.ID, u.UserPrincipalName, strings.ToUpper(u.UserPrincipalName)} {
			o := g.get(t, tok, "/users/"+key+"?$select=id,department,accountEnabled").ok(t)
			if o["id"] != u.ID || o["department"] != u.Department || o["accountEnabled"] != true {
				t.Errorf("/users/%s = %v", key, o)
			}
			if o["@odata.context"] != graphMetadata+"users(id,department,accountEnabled)/$entity" {
				t.Errorf("@odata.context = %v", o["@odata.context"])
			}
		}
	})

	t.Run("$filter", func(t *testing.T) {
		a, b := byUPN["user000005@"+srv.Domain()], byUPN["user001234@"+srv.Domain()]
		adele := persona(t, srv, "AdeleV")
		lower := strings.ToLower
		tests := []struct {
			filter string
			want   []string
		}{
			{"userPrincipalName eq 'user000042@" + srv.Domain() + "'", []string{byUPN["user000042@"+srv.Domain()].ID}},
			{"mail eq 'USER000042@" + strings.ToUpper(srv.Domain()) + "'", []string{byUPN["user000042@"+srv.Domain()].ID}},
			{"id eq '" + adele.OID + "'", []string{adele.OID}},
			{"startswith(displayName,'Zoe')", where(func(u devtenant.User) bool { return strings.HasPrefix(lower(u.DisplayName), "zoe") })},
			{"startswith(userPrincipalName,'user00001')", where(func(u devtenant.User) bool { return strings.HasPrefix(u.UserPrincipalName, "user00001") })},
			{"id in ('" + a.ID + "','" + b.ID + "','" + adele.OID + "')", []string{a.ID, b.ID, adele.OID}},
			{"accountEnabled eq false", disabled},
			{"department eq 'Sales' and accountEnabled eq true", where(func(u devtenant.User) bool { return u.Department == "Sales" && u.AccountEnabled })},
			{"department in ('HR','Legal') or jobTitle eq 'President'", where(func(u devtenant.User) bool {
				return u.Department == "HR" || u.Department == "Legal" || u.JobTitle == "President"
			})},
			{"userType eq 'Guest'", where(func(u devtenant.User) bool { return u.UserType == "Guest" })},
			{"displayName eq 'Nobody At All'", nil},
		}
		for _, tc := range tests {
			t.Run(tc.filter, func(t *testing.T) {
				if len(tc.want) == 0 && !strings.Contains(tc.filter, "Nobody") {
					t.Fatal("empty expectation")
				}
				got, _ := g.listAll(t, tok, "/users?$filter="+odataQuery(tc.filter)+"&$select=id,displayName")
				sameIDs(t, tc.filter, got, tc.want)
			})
		}
		// The Sales filter spans pages of 100: the filter rides the nextLink.
		if n := len(where(func(u devtenant.User) bool { return u.Department == "Sales" && u.AccountEnabled })); n <= 100 {
			t.Errorf("the Sales filter matches %d users, want more than a page", n)
		}
	})

	t.Run("$filter errors", func(t *testing.T) {
		g.get(t, tok, "/users?$filter="+odataQuery("shoeSize eq '42'")).wantError(t, http.StatusBadRequest, "Request_BadRequest",
			"Could not find a property named 'shoeSize' on type 'microsoft.graph.user'.")
		e := g.get(t, tok, "/users?$filter="+odataQuery("displayName gt 'A'")).wantError(t, http.StatusBadRequest, "Request_UnsupportedQuery", "")
		if e != nil && !strings.HasPrefix(str(e["message"]), "Unsupported or invalid query filter clause specified for property 'displayName' of resource '") {
			t.Errorf("gt: message %q", e["message"])
		}
		for _, f := range []string{"displayName eq", "displayName eq 'unterminated", "startswith(displayName)", "(displayName eq 'a'", "displayName eq Adele"} {
			g.get(t, tok, "/users?$filter="+odataQuery(f)).wantError(t, http.StatusBadRequest, "Request_BadRequest", "")
		}
		// ne, not and endsWith are advanced queries (graph_fidelity_test.go
		// checks Graph's messages).
		for _, f := range []string{"displayName ne 'Adele Vance'", "endswith(mail,'@" + srv.Domain() + "')", "not(accountEnabled eq true)"} {
			g.get(t, tok, "/users?$filter="+odataQuery(f)).wantError(t, http.StatusBadRequest, "Request_UnsupportedQuery", "")
		}
		got, _ := g.listAll(t, tok, "/users?$count=true&$filter="+odataQuery("not(accountEnabled eq true)")+"&$top=999", eventual...)
		sameIDs(t, "not(accountEnabled eq true)", got, disabled)
	})

	t.Run("$count", func(t *testing.T) {
		// Without ConsistencyLevel, Graph ignores $count=true.
		if c, ok := g.get(t, tok, "/users?$count=true").ok(t)["@odata.count"]; ok {
			t.Errorf("@odata.count %v without ConsistencyLevel: eventual", c)
		}
		first := g.get(t, tok, "/users?$count=true&$top=999", eventual...).ok(t)
		if first["@odata.count"] != float64(len(users)) {
			t.Errorf("@odata.count = %v, want %d", first["@odata.count"], len(users))
		}
		next, _ := first["@odata.nextLink"].(string)
		g.checkNextLink(t, next, "$skiptoken")
		second := g.get(t, tok, next, eventual...).ok(t)
		if c, ok := second["@odata.count"]; ok {
			t.Errorf("@odata.count on the second page: %v", c)
		}
		filtered := g.get(t, tok, "/users?$count=true&$filter="+odataQuery("accountEnabled eq false"), eventual...).ok(t)
		if filtered["@odata.count"] != float64(len(disabled)) {
			t.Errorf("@odata.count with $filter = %v, want %d", filtered["@odata.count"], len(disabled))
		}
	})

	// msgraph-sdk-go's PageIterator follows the nextLink as given and sends
	// no ConsistencyLevel on later pages (facts §5): the nextLink of an
	// advanced query must stand on its own, as Graph's do.
	t.Run("advanced query nextLink without ConsistencyLevel", func(t *testing.T) {
		for _, first := range []string{
			"/users?$count=true&$top=999",
			"/users?$search=" + odataQuery(`"displayName:a"`) + "&$top=100",
			"/users?$filter=" + odataQuery("accountEnabled eq true") + "&$orderby=displayName&$count=true&$top=999",
		} {
			page := g.get(t, tok, first, eventual...).ok(t)
			next, _ := page["@odata.nextLink"].(string)
			if next == "" {
				t.Errorf("%s: no nextLink", first)
				continue
			}
			r := g.get(t, tok, next)
			if r.status != http.StatusOK {
				t.Errorf("%s: following its nextLink without ConsistencyLevel: %d %.300s", first, r.status, r.body)
			}
		}
	})

	t.Run("/users/$count", func(t *testing.T) {
		g.do(t, gReq{target: "/users/$count", token: tok, raw: true}).wantError(t, http.StatusBadRequest, "Request_BadRequest", "")
		r := g.do(t, gReq{target: "/users/$count", token: tok, raw: true, header: pairs(t, eventual)})
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Fatalf("$count: %d %q", r.status, r.header.Get("Content-Type"))
		}
		if string(r.body) != strconv.Itoa(len(users)) {
			t.Errorf("$count = %q, want %d", r.body, len(users))
		}
	})

	// Graph counts what the query selects (…/users/$count?$filter=… with
	// ConsistencyLevel: eventual); a query it ignores would be silence.
	t.Run("/users/$count with $filter", func(t *testing.T) {
		r := g.do(t, gReq{target: "/users/$count?$filter=" + odataQuery("accountEnabled eq false"), token: tok, raw: true, header: pairs(t, eventual)})
		if r.status != http.StatusOK || string(r.body) != strconv.Itoa(len(disabled)) {
			t.Errorf("$count?$filter=accountEnabled eq false: %d %q, want %d", r.status, r.body, len(disabled))
		}
		r = g.do(t, gReq{target: "/users/$count?$filter=" + odataQuery("shoeSize eq 1"), token: tok, raw: true, header: pairs(t, eventual)})
		if r.status != http.StatusBadRequest {
			t.Errorf("$count with an invalid $filter: %d %q, want 400", r.status, r.body)
		}
	})

	t.Run("$search", func(t *testing.T) {
		q := "/users?$search=" + odataQuery(`"displayName:Nora"`) + "&$count=true&$top=999"
		g.get(t, tok, q).wantError(t, http.StatusBadRequest, "Request_UnsupportedQuery", "")
		got, pages := g.listAll(t, tok, q, eventual...)
		want := where(func(u devtenant.User) bool { return strings.Contains(strings.ToLower(u.DisplayName), "nora") })
		if len(want) < 50 {
			t.Fatalf("only %d Noras", len(want))
		}
		sameIDs(t, "$search displayName:Nora", got, want)
		if pages[0]["@odata.count"] != float64(len(want)) {
			t.Errorf("@odata.count = %v, want %d", pages[0]["@odata.count"], len(want))
		}
		g.get(t, tok, "/users?$search="+odataQuery(`"shoeSize:42"`), eventual...).wantError(t, http.StatusBadRequest, "Request_BadRequest", "")
	})

	t.Run("$orderby", func(t *testing.T) {
		for _, tc := range []struct {
			order string
			desc  bool
		}{{"displayName", false}, {"displayName desc", true}, {"userPrincipalName", false}} {
			got, _ := g.listAll(t, tok, "/users?$orderby="+odataQuery(tc.order)+"&$top=999&$select=id,displayName,userPrincipalName")
			sameIDs(t, "$orderby="+tc.order, got, all)
			prop := strings.Fields(tc.order)[0]
			for i := 1; i < len(got); i++ {
				a, b := strings.ToLower(str(got[i-1][prop])), strings.ToLower(str(got[i][prop]))
				if (!tc.desc && a > b) || (tc.desc && a < b) {
					t.Errorf("$orderby=%s: %q before %q at %d", tc.order, a, b, i)
					break
				}
			}
		}
		// With $filter it is an advanced query.
		q := "/users?$filter=" + odataQuery("accountEnabled eq false") + "&$orderby=displayName&$count=true"
		g.get(t, tok, q).wantError(t, http.StatusBadRequest, "Request_UnsupportedQuery", "Sorting not supported for current query.")
		got, _ := g.listAll(t, tok, q, eventual...)
		sameIDs(t, "disabled, ordered", got, disabled)
		g.get(t, tok, "/users?$orderby=jobTitle").wantError(t, http.StatusBadRequest, "Request_UnsupportedQuery", "")
	})

	t.Run("unsupported query options", func(t *testing.T) {
		for _, q := range []string{"$skip=10", "$format=xml", "$nonsense=1", "$top=1&$top=2", "$skiptoken=bm90IGEgdG9rZW4"} {
			r := g.get(t, tok, "/users?"+q)
			if r.status != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", q, r.status)
			}
		}
	})
}

func TestGraphGroupsAndApps(t *testing.T) {
	srv, g, tok := startGraph(t, 0)
	groups := map[string]devtenant.Group{}
	for _, grp := range srv.Groups() {
		groups[grp.DisplayName] = grp
	}
	allCompany, eng := groups["All Company"], groups["Engineering"]

	t.Run("groups", func(t *testing.T) {
		page := g.get(t, tok, "/groups").ok(t)
		if page["@odata.context"] != graphMetadata+"groups" {
			t.Errorf("@odata.context = %v", page["@odata.context"])
		}
		var want []string
		for _, grp := range groups {
			want = append(want, grp.ID)
		}
		got := values(t, page)
		sameIDs(t, "groups", got, want)
		for _, o := range got {
			if o["securityEnabled"] != true || o["displayName"] != groups[str(o["displayName"])].DisplayName {
				t.Errorf("group %v", o)
			}
		}
		one := values(t, g.get(t, tok, "/groups?$filter="+odataQuery("displayName eq 'Engineering'")+"&$select=id,displayName").ok(t))
		if len(one) != 1 || one[0]["id"] != eng.ID || !slices.Equal(keys(one[0]), []string{"displayName", "id"}) {
			t.Errorf("filtered groups = %v", one)
		}
		o := g.get(t, tok, "/groups/"+eng.ID).ok(t)
		if o["@odata.context"] != graphMetadata+"groups/$entity" || o["displayName"] != "Engineering" {
			t.Errorf("group = %v", o)
		}
	})

	for _, rel := range []string{"members", "transitiveMembers"} {
		t.Run(rel, func(t *testing.T) {
			for _, grp := range []devtenant.Group{allCompany, eng} {
				got, pages := g.listAll(t, tok, "/groups/"+grp.ID+"/"+rel+"?$top=5")
				sameIDs(t, grp.DisplayName+" "+rel, got, grp.Members)
				if len(pages) < 2 && len(grp.Members) > 5 {
					t.Errorf("%d %s in %d pages of 5", len(grp.Members), rel, len(pages))
				}
				if pages[0]["@odata.context"] != graphMetadata+"directoryObjects" {
					t.Errorf("@odata.context = %v", pages[0]["@odata.context"])
				}
				for _, m := range got {
					if m["@odata.type"] != "#microsoft.graph.user" {
						t.Errorf("member %v: @odata.type = %v", m["id"], m["@odata.type"])
					}
				}
			}
			got := values(t, g.get(t, tok, "/groups/"+eng.ID+"/"+rel+"?$select=id,userPrincipalName").ok(t))
			for _, m := range got {
				if m["@odata.type"] != "#microsoft.graph.user" || !strings.Contains(str(m["userPrincipalName"]), "@") {
					t.Errorf("member with $select: %v", m)
				}
			}
		})
	}

	t.Run("users/{id}/memberOf", func(t *testing.T) {
		adele := persona(t, srv, "AdeleV")
		got := values(t, g.get(t, tok, "/users/"+adele.OID+"/memberOf").ok(t))
		sameIDs(t, "memberOf", got, []string{allCompany.ID, groups["Retail"].ID})
		for _, o := range got {
			if o["@odata.type"] != "#microsoft.graph.group" {
				t.Errorf("memberOf %v: @odata.type %v", o["displayName"], o["@odata.type"])
			}
		}
	})

	creds := func(t *testing.T, o map[string]any, kind string) []string {
		t.Helper()
		arr, ok := o[kind].([]any)
		if !ok {
			t.Fatalf("%v: %s = %#v, want an array", o["displayName"], kind, o[kind])
		}
		var ends []string
		for _, c := range arr {
			m, _ := c.(map[string]any)
			if m["keyId"] == nil || m["displayName"] == nil {
				t.Errorf("%s entry %v", kind, m)
			}
			ends = append(ends, str(m["endDateTime"]))
		}
		return ends
	}
	for _, set := range []string{"applications", "servicePrincipals"} {
		t.Run(set, func(t *testing.T) {
			page := g.get(t, tok, "/"+set).ok(t)
			if page["@odata.context"] != graphMetadata+set {
				t.Errorf("@odata.context = %v", page["@odata.context"])
			}
			byApp := map[string]map[string]any{}
			var mis []string
			for _, o := range values(t, page) {
				if o["servicePrincipalType"] == "ManagedIdentity" {
					// Listed in servicePrincipals only: managed identities
					// have no application object.
					mis = append(mis, str(o["appId"]))
					continue
				}
				byApp[str(o["appId"])] = o
				if !guidRE.MatchString(str(o["id"])) || o["id"] == o["appId"] {
					t.Errorf("%s id %v", set, o["id"])
				}
			}
			if len(byApp) != 4 || byApp[daemonAppID] == nil || byApp[webAppID] == nil || byApp[spaAppID] == nil || byApp[cliAppID] == nil {
				t.Fatalf("%s: %v", set, slices.Sorted(mapKeys(byApp)))
			}
			if wantMIs := map[string]int{"applications": 0, "servicePrincipals": 1}[set]; len(mis) != wantMIs ||
				(wantMIs == 1 && mis[0] != srv.ManagedIdentity().ClientID) {
				t.Errorf("%s: managed identities %v, want %d (the system-assigned one)", set, mis, wantMIs)
			}
			d, w := byApp[daemonAppID], byApp[webAppID]
			if set == "servicePrincipals" {
				// A service principal's own credentials are separate from its
				// application's (which hold the app's secrets), and empty here.
				for _, o := range byApp {
					if len(creds(t, o, "passwordCredentials"))+len(creds(t, o, "keyCredentials")) != 0 {
						t.Errorf("service principal %v has credentials", o["appId"])
					}
				}
				return
			}
			if got := creds(t, d, "passwordCredentials"); !slices.Equal(got, []string{"2027-05-25T00:00:00Z"}) {
				t.Errorf("daemon password endDateTime = %v", got)
			}
			if got := creds(t, d, "keyCredentials"); !slices.Equal(got, []string{"2027-11-25T00:00:00Z"}) {
				t.Errorf("daemon key endDateTime = %v", got)
			}
			if got := creds(t, w, "passwordCredentials"); !slices.Equal(got, []string{"2027-11-25T00:00:00Z"}) {
				t.Errorf("web app password endDateTime = %v", got)
			}
			if got := creds(t, w, "keyCredentials"); len(got) != 0 {
				t.Errorf("web app keys = %v", got)
			}
			if got := creds(t, byApp[cliAppID], "passwordCredentials"); len(got) != 0 {
				t.Errorf("CLI passwords = %v", got)
			}
			sel := values(t, g.get(t, tok, "/"+set+"?$select=appId,passwordCredentials&$filter="+odataQuery("appId eq '"+daemonAppID+"'")).ok(t))
			if len(sel) != 1 || !slices.Equal(keys(sel[0]), []string{"appId", "passwordCredentials"}) {
				t.Errorf("$select/$filter: %v", sel)
			}
		})
	}
	t.Run("servicePrincipals are not applications", func(t *testing.T) {
		apps := values(t, g.get(t, tok, "/applications?$filter="+odataQuery("appId eq '"+daemonAppID+"'")).ok(t))
		sps := values(t, g.get(t, tok, "/servicePrincipals?$filter="+odataQuery("appId eq '"+daemonAppID+"'")).ok(t))
		if len(apps) != 1 || len(sps) != 1 || apps[0]["id"] == sps[0]["id"] {
			t.Errorf("application %v, service principal %v", apps, sps)
		}
		if c := claimsOf(t, tok); sps[0]["id"] != c["oid"] {
			t.Errorf("the daemon's service principal id %v is not its token's oid %v", sps[0]["id"], c["oid"])
		}
	})

	t.Run("organization", func(t *testing.T) {
		page := g.get(t, tok, "/organization").ok(t)
		if page["@odata.context"] != graphMetadata+"organization" {
			t.Errorf("@odata.context = %v", page["@odata.context"])
		}
		orgs := values(t, page)
		if len(orgs) != 1 || orgs[0]["id"] != srv.TenantID() {
			t.Fatalf("organization = %v", orgs)
		}
		doms, _ := orgs[0]["verifiedDomains"].([]any)
		if len(doms) != 1 || doms[0].(map[string]any)["name"] != srv.Domain() || doms[0].(map[string]any)["isDefault"] != true {
			t.Errorf("verifiedDomains = %v", doms)
		}
	})
}

// deltaRound follows a delta round from first to its @odata.deltaLink with
// Prefer: odata.maxpagesize; every page but the last carries a nextLink
// ($skiptoken), the last a deltaLink ($deltatoken), never both.
func (g graphAPI) deltaRound(t *testing.T, token, first string, maxPage int) (objs []map[string]any, deltaLink string, pages int) {
	t.Helper()
	target := first
	for range 100 {
		page := g.get(t, token, target, "Prefer", "odata.maxpagesize="+strconv.Itoa(maxPage)).ok(t)
		pages++
		v := values(t, page)
		if len(v) > maxPage {
			t.Errorf("%d objects on a page, more than odata.maxpagesize=%d", len(v), maxPage)
		}
		objs = append(objs, v...)
		next, _ := page["@odata.nextLink"].(string)
		delta, _ := page["@odata.deltaLink"].(string)
		switch {
		case next != "" && delta != "":
			t.Fatalf("a page with both nextLink %q and deltaLink %q", next, delta)
		case next != "":
			g.checkNextLink(t, next, "$skiptoken")
			target = next
		case delta != "":
			g.checkNextLink(t, delta, "$deltatoken")
			return objs, delta, pages
		default:
			t.Fatalf("%s: a page with neither nextLink nor deltaLink", target)
		}
	}
	t.Fatal("more than 100 delta pages")
	return nil, "", 0
}

func TestGraphDelta(t *testing.T) {
	srv, g, tok := startGraph(t, 1200)
	var allUsers []string
	upn := map[string]string{}
	for _, u := range srv.Users() {
		allUsers = append(allUsers, u.ID)
		upn[u.UserPrincipalName] = u.ID
	}

	t.Run("users", func(t *testing.T) {
		first := "/users/delta?$select=id,displayName,accountEnabled"
		got, deltaLink, pages := g.deltaRound(t, tok, first, 500)
		sameIDs(t, "first round", got, allUsers)
		if pages != 3 {
			t.Errorf("first round in %d pages, want 3 (1218 users, 500 a page)", pages)
		}
		for _, o := range got {
			if !slices.Equal(keys(o), []string{"accountEnabled", "displayName", "id"}) {
				t.Fatalf("delta object %v: the $select is lost", o)
			}
		}

		// Changes: one user added, one disabled. Deleting needs
		// User.ReadWrite.All, which no dev-tenant token carries (and there is
		// no Go method to delete): the refused DELETE must change nothing.
		added, err := srv.AddUser(devtenant.User{UserPrincipalName: "delta.new@" + srv.Domain(), DisplayName: "Delta New", AccountEnabled: true}, "Delta-Passw0rd!")
		if err != nil {
			t.Fatal(err)
		}
		target := upn["user000005@"+srv.Domain()]
		if err := srv.SetUserEnabled(target, false); err != nil {
			t.Fatal(err)
		}
		victim := upn["user000006@"+srv.Domain()]
		g.do(t, gReq{method: http.MethodDelete, target: "/users/" + victim, token: tok}).
			wantError(t, http.StatusForbidden, "Authorization_RequestDenied", forbiddenMsg)

		second, deltaLink2, _ := g.deltaRound(t, tok, deltaLink, 500)
		sameIDs(t, "second round", second, []string{added.ID, target})
		for _, o := range second {
			if _, removed := o["@removed"]; removed {
				t.Errorf("%v marked removed", o)
			}
			switch o["id"] {
			case added.ID:
				if o["displayName"] != "Delta New" || o["accountEnabled"] != true {
					t.Errorf("added user = %v", o)
				}
			case target:
				if o["accountEnabled"] != false {
					t.Errorf("disabled user = %v", o)
				}
			}
		}
		if !strings.Contains(deltaLink2, "$select=") {
			t.Errorf("deltaLink %q dropped $select", deltaLink2)
		}

		third, deltaLink3, pages := g.deltaRound(t, tok, deltaLink2, 500)
		if len(third) != 0 || pages != 1 {
			t.Errorf("third round without changes: %d objects in %d pages: %v", len(third), pages, third)
		}
		// The same deltaLink can be replayed, and a later one still works.
		again, _, _ := g.deltaRound(t, tok, deltaLink, 500)
		sameIDs(t, "second round replayed", again, []string{added.ID, target})
		if r, _, _ := g.deltaRound(t, tok, deltaLink3, 500); len(r) != 0 {
			t.Errorf("fourth round: %v", r)
		}
	})

	t.Run("users default page", func(t *testing.T) {
		page := g.get(t, tok, "/users/delta").ok(t)
		if n := len(values(t, page)); n != 100 {
			t.Errorf("%d users on a default delta page, want 100", n)
		}
		if page["@odata.context"] != graphMetadata+"users" {
			t.Errorf("@odata.context = %v", page["@odata.context"])
		}
	})

	t.Run("users delta errors", func(t *testing.T) {
		g.get(t, tok, "/users/delta?$deltatoken=bm90LWEtdG9rZW4").wantError(t, http.StatusBadRequest, "Request_BadRequest", "")
		g.get(t, tok, "/users/delta?$skiptoken=bm90LWEtdG9rZW4").wantError(t, http.StatusBadRequest, "Request_BadRequest", "")
		g.get(t, tok, "/users/delta?$orderby=displayName").wantError(t, http.StatusBadRequest, "Request_UnsupportedQuery", "")
		g.get(t, tok, "/users/delta?$select=shoeSize").wantError(t, http.StatusBadRequest, "Request_BadRequest", "")
	})

	// Graph's delta supports $filter=id eq '…' (facts §5).
	t.Run("users delta $filter=id eq", func(t *testing.T) {
		adele := persona(t, srv, "AdeleV")
		r := g.get(t, tok, "/users/delta?$filter="+odataQuery("id eq '"+adele.OID+"'"))
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %.300s", r.status, r.body)
		}
		sameIDs(t, "delta $filter=id eq", values(t, r.obj(t)), []string{adele.OID})
	})

	// msgraph-sdk-go's URL template is {+baseurl}/users/delta(){?…}: the
	// function-call form must be the delta function, as on Graph.
	t.Run("delta() as msgraph-sdk-go sends it", func(t *testing.T) {
		for _, set := range []string{"users", "groups"} {
			r := g.get(t, tok, "/"+set+"/delta()?%24select=id")
			if r.status != http.StatusOK {
				t.Errorf("/%s/delta(): status %d: %.300s", set, r.status, r.body)
				continue
			}
			page := r.obj(t)
			if _, ok := page["value"].([]any); !ok || (page["@odata.nextLink"] == nil && page["@odata.deltaLink"] == nil) {
				t.Errorf("/%s/delta(): %v", set, keys(page))
			}
		}
	})

	t.Run("groups", func(t *testing.T) {
		groups := map[string]devtenant.Group{}
		var all []string
		for _, grp := range srv.Groups() {
			groups[grp.ID] = grp
			all = append(all, grp.ID)
		}
		if len(all) != 14 {
			t.Fatalf("%d groups, want 4 + 10 synthetic", len(all))
		}
		got, deltaLink, _ := g.deltaRound(t, tok, "/groups/delta", 5)
		sameIDs(t, "groups first round", got, all)
		checkMembers := func(t *testing.T, o map[string]any, want []string) {
			t.Helper()
			arr, ok := o["members@delta"].([]any)
			if !ok {
				t.Errorf("group %v: no members@delta", o["displayName"])
				return
			}
			var ms []map[string]any
			for _, m := range arr {
				mm, _ := m.(map[string]any)
				if mm["@odata.type"] != "#microsoft.graph.user" {
					t.Errorf("group %v: member %v", o["displayName"], mm)
				}
				ms = append(ms, mm)
			}
			sameIDs(t, str(o["displayName"])+" members@delta", ms, want)
		}
		for _, o := range got {
			checkMembers(t, o, groups[str(o["id"])].Members)
		}

		// 100 more synthetic users join the 10 synthetic groups.
		if err := srv.GenerateDirectory(1300); err != nil {
			t.Fatal(err)
		}
		var synthetic []string
		after := map[string]devtenant.Group{}
		for _, grp := range srv.Groups() {
			after[grp.ID] = grp
			if strings.HasPrefix(grp.DisplayName, "Synthetic ") {
				synthetic = append(synthetic, grp.ID)
			}
		}
		second, deltaLink2, _ := g.deltaRound(t, tok, deltaLink, 5)
		sameIDs(t, "groups second round", second, synthetic)
		// Later rounds list only the members that changed: the new ones.
		for _, o := range second {
			id := str(o["id"])
			var joined []string
			for _, m := range after[id].Members {
				if !slices.Contains(groups[id].Members, m) {
					joined = append(joined, m)
				}
			}
			checkMembers(t, o, joined)
		}
		if third, _, _ := g.deltaRound(t, tok, deltaLink2, 5); len(third) != 0 {
			t.Errorf("groups third round: %v", ids(third))
		}
	})
}

type batchResp struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func TestGraphBatch(t *testing.T) {
	srv, g, tok := startGraph(t, 0)
	adele := persona(t, srv, "AdeleV")

	post := func(t *testing.T, body []byte, gz bool) graphResp {
		t.Helper()
		r := gReq{method: http.MethodPost, target: "/$batch", token: tok, body: body}
		if gz {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(body)
			_ = zw.Close()
			r.body, r.header = buf.Bytes(), map[string]string{"Content-Encoding": "gzip"}
		}
		return g.do(t, r)
	}
	responses := func(t *testing.T, r graphResp) map[string]batchResp {
		t.Helper()
		var out struct {
			Responses []json.RawMessage `json:"responses"`
		}
		if r.status != http.StatusOK {
			t.Fatalf("$batch: status %d: %.500s", r.status, r.body)
		}
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		m := map[string]batchResp{}
		for _, raw := range out.Responses {
			var br batchResp
			if err := json.Unmarshal(raw, &br); err != nil {
				t.Fatal(err)
			}
			// The SDK reads headers["Content-Type"], that casing exactly.
			var hdrs struct {
				Headers map[string]any `json:"headers"`
			}
			_ = json.Unmarshal(raw, &hdrs)
			for k := range hdrs.Headers {
				if strings.EqualFold(k, "content-type") && k != "Content-Type" {
					t.Errorf("response %s: header key %q, want Content-Type", br.ID, k)
				}
			}
			if len(br.Body) > 0 && br.Body[0] != '{' {
				t.Errorf("response %s: body %.100s is not an object", br.ID, br.Body)
			}
			m[br.ID] = br
		}
		return m
	}

	dependent := []byte(`{"requests":[
		{"id":"1","method":"GET","url":"/users/` + adele.OID + `?%24select=id,displayName","headers":{"accept":"application/json"},"body":null,"dependsOn":[]},
		{"id":"2","method":"GET","url":"/users/` + unknownID + `","headers":{"accept":"application/json"},"body":null,"dependsOn":["1"]},
		{"id":"3","method":"GET","url":"/groups","headers":{"accept":"application/json"},"body":null,"dependsOn":["2"]}]}`)
	checkDependent := func(t *testing.T, m map[string]batchResp) {
		t.Helper()
		if len(m) != 3 {
			t.Fatalf("%d responses, want 3", len(m))
		}
		for id, want := range map[string]int{"1": 200, "2": 404, "3": 424} {
			if m[id].Status != want {
				t.Errorf("response %s: status %d, want %d", id, m[id].Status, want)
			}
			if ct := m[id].Headers["Content-Type"]; !strings.HasPrefix(ct, "application/json") {
				t.Errorf("response %s: Content-Type %q", id, ct)
			}
		}
		if ct := m["1"].Headers["Content-Type"]; ct != graphJSONType {
			t.Errorf("response 1: Content-Type %q, want %q", ct, graphJSONType)
		}
		var user map[string]any
		_ = json.Unmarshal(m["1"].Body, &user)
		if user["displayName"] != "Adele Vance" || !slices.Equal(keys(user), []string{"@odata.context", "displayName", "id"}) {
			t.Errorf("response 1 body = %v", user)
		}
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(m["2"].Body, &e)
		if e.Error.Code != "Request_ResourceNotFound" || e.Error.Message == "" {
			t.Errorf("response 2 body = %s", m["2"].Body)
		}
		e.Error.Code, e.Error.Message = "", ""
		_ = json.Unmarshal(m["3"].Body, &e)
		if e.Error.Code == "" || e.Error.Message == "" {
			t.Errorf("response 3 body = %s", m["3"].Body)
		}
	}

	t.Run("dependsOn a failed request", func(t *testing.T) { checkDependent(t, responses(t, post(t, dependent, false))) })
	t.Run("gzip body", func(t *testing.T) { checkDependent(t, responses(t, post(t, dependent, true))) })

	many := func(n int) []byte {
		var reqs []string
		for i := range n {
			reqs = append(reqs, fmt.Sprintf(`{"id":"%d","method":"GET","url":"/users?$top=1&$select=id"}`, i+1))
		}
		return []byte(`{"requests":[` + strings.Join(reqs, ",") + `]}`)
	}
	t.Run("20 requests", func(t *testing.T) {
		m := responses(t, post(t, many(20), false))
		if len(m) != 20 {
			t.Errorf("%d responses", len(m))
		}
		for id, r := range m {
			if r.Status != http.StatusOK {
				t.Errorf("response %s: %d", id, r.Status)
			}
		}
	})
	t.Run("21 requests", func(t *testing.T) {
		post(t, many(21), false).wantError(t, http.StatusBadRequest, "BadRequest", "")
	})

	t.Run("invalid batches", func(t *testing.T) {
		for name, body := range map[string]string{
			"cycle":              `{"requests":[{"id":"1","method":"GET","url":"/me","dependsOn":["2"]},{"id":"2","method":"GET","url":"/me","dependsOn":["1"]}]}`,
			"long cycle":         `{"requests":[{"id":"1","url":"/organization","dependsOn":["3"]},{"id":"2","url":"/organization","dependsOn":["1"]},{"id":"3","url":"/organization","dependsOn":["2"]}]}`,
			"self dependency":    `{"requests":[{"id":"1","method":"GET","url":"/organization","dependsOn":["1"]}]}`,
			"unknown dependency": `{"requests":[{"id":"1","method":"GET","url":"/organization","dependsOn":["9"]}]}`,
			"duplicate ids":      `{"requests":[{"id":"1","method":"GET","url":"/organization"},{"id":"1","method":"GET","url":"/organization"}]}`,
			"no requests":        `{"requests":[]}`,
			"not JSON":           `{"requests":[`,
		} {
			t.Run(name, func(t *testing.T) {
				post(t, []byte(body), false).wantError(t, http.StatusBadRequest, "BadRequest", "")
			})
		}
		r := g.do(t, gReq{method: http.MethodPost, target: "/$batch", token: tok, body: []byte("not gzip"), header: map[string]string{"Content-Encoding": "gzip"}})
		r.wantError(t, http.StatusBadRequest, "BadRequest", "")
	})

	// A sub-request is a request line of its own: whatever its url or
	// method, the batch answers (a per-request 4xx at worst), never a
	// dropped connection.
	t.Run("hostile sub-requests", func(t *testing.T) {
		for name, rq := range map[string]string{
			"space in url":     `{"id":"1","method":"GET","url":"/users?$filter=displayName eq 'Adele Vance'"}`,
			"space in method":  `{"id":"1","method":"GET /x","url":"/organization"}`,
			"newline in url":   `{"id":"1","method":"GET","url":"/organization\r\nX-Evil: 1"}`,
			"absolute url":     `{"id":"1","method":"GET","url":"https://graph.microsoft.com/v1.0/organization"}`,
			"nested batch":     `{"id":"1","method":"POST","url":"/$batch","headers":{"Content-Type":"application/json"},"body":{"requests":[{"id":"a","method":"GET","url":"/organization"}]}}`,
			"empty url":        `{"id":"1","method":"GET","url":""}`,
			"percent garbage":  `{"id":"1","method":"GET","url":"/users?%zz"}`,
			"lowercase method": `{"id":"1","method":"get","url":"/organization"}`,
		} {
			t.Run(name, func(t *testing.T) {
				m := responses(t, post(t, []byte(`{"requests":[`+rq+`]}`), false))
				if r, ok := m["1"]; !ok || r.Status < 200 || r.Status >= 500 {
					t.Errorf("sub-response %+v", m["1"])
				}
			})
		}
	})
}

func TestGraphThrottling(t *testing.T) {
	srv := startTenant(t, func(o *devtenant.Options) {
		o.GraphBudget = 5
		o.GraphBudgetWindow = time.Hour
	})
	g := newGraphAPI(srv)
	tok := graphAppToken(t, srv, daemonAppID, graphDefault)
	for i := range 5 {
		if r := g.get(t, tok, "/organization"); r.status != http.StatusOK {
			t.Fatalf("request %d: status %d", i+1, r.status)
		}
	}
	r := g.get(t, tok, "/users?$top=1")
	r.wantError(t, http.StatusTooManyRequests, "TooManyRequests", "")
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < 3500 || ra > 3600 {
		t.Errorf("Retry-After = %q, want the seconds left in the hour", r.header.Get("Retry-After"))
	}
	if r := g.get(t, tok, "/organization"); r.status != http.StatusTooManyRequests {
		t.Errorf("7th request: %d", r.status)
	}
	// The budget is per app: the web app is refused for its permissions,
	// not throttled.
	web := graphAppToken(t, srv, webAppID, graphDefault)
	g.get(t, web, "/organization").wantError(t, http.StatusForbidden, "Authorization_RequestDenied", forbiddenMsg)
	// A $batch's requests are throttled one by one: the batch answers 200,
	// its request 429 (TestGraphBatchThrottling has more).
	post := g.do(t, gReq{method: http.MethodPost, target: "/$batch", token: tok, body: []byte(`{"requests":[{"id":"1","method":"GET","url":"/organization"}]}`)})
	if post.status != http.StatusOK || !strings.Contains(string(post.body), `"status":429`) {
		t.Errorf("$batch over the budget: %d %.300s", post.status, post.body)
	}

	// A new window: the budget is back (with a token issued at the new time).
	srv.AdvanceClock(time.Hour + time.Minute)
	g.get(t, graphAppToken(t, srv, daemonAppID, graphDefault), "/organization").ok(t)
}

// Continuous access evaluation: a CAE-capable (cp1) client's token is
// challenged as soon as the user is revoked; other tokens live on until
// they expire, as on Graph. The tenant's clock is frozen half-way through a
// second and moved by hand, so the order of issue and revocation is exact.
// iat has whole seconds: the tokens to challenge are issued a second before
// the revocation, and the fresh one in the revocation's own second, after it.
func TestGraphCAE(t *testing.T) {
	base := time.Now().Truncate(time.Second).Add(500 * time.Millisecond)
	srv := startTenant(t, func(o *devtenant.Options) { o.Now = func() time.Time { return base } })
	g := newGraphAPI(srv)
	alex := persona(t, srv, "AlexW")
	cae, _ := graphUserToken(t, srv, "AlexW", "cp1")
	plain, _ := graphUserToken(t, srv, "AlexW")
	if c := claimsOf(t, cae); !hasString(c["xms_cc"], "CP1") || c["oid"] != alex.OID {
		t.Fatalf("CAE token claims = %v", c)
	}
	if c := claimsOf(t, plain); c["xms_cc"] != nil {
		t.Fatalf("non-CAE token has xms_cc %v", c["xms_cc"])
	}
	for _, tok := range []string{cae, plain} {
		g.get(t, tok, "/me").ok(t)
	}

	srv.AdvanceClock(time.Second + 100*time.Millisecond) // x+1.6 s
	if err := srv.RevokeUser(alex.OID); err != nil {
		t.Fatal(err)
	}
	srv.AdvanceClock(100 * time.Millisecond) // x+1.7 s

	t.Run("cp1 token challenged", func(t *testing.T) {
		r := g.get(t, cae, "/me")
		r.wantError(t, http.StatusUnauthorized, "InvalidAuthenticationToken", "")
		checkClaimsChallenge(t, r.header.Get("WWW-Authenticate"), claimsOf(t, cae))
	})
	t.Run("token without cp1 lives on", func(t *testing.T) {
		g.get(t, plain, "/me").ok(t)
	})
	t.Run("token issued after the revocation", func(t *testing.T) {
		// Signed in again after RevokeUser, within the same second (as a
		// test or a quick user does): the new token must work.
		fresh, _ := graphUserToken(t, srv, "AlexW", "cp1")
		if iat := claimsOf(t, fresh)["iat"]; iat == nil {
			t.Fatal("no iat")
		}
		r := g.get(t, fresh, "/me")
		if r.status != http.StatusOK {
			t.Errorf("a cp1 token issued after the revocation: status %d, WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		diego := persona(t, srv, "DiegoS")
		tok, _ := graphUserToken(t, srv, "DiegoS", "cp1")
		g.get(t, tok, "/me").ok(t)
		if err := srv.SetUserEnabled(diego.OID, false); err != nil {
			t.Fatal(err)
		}
		r := g.get(t, tok, "/me")
		r.wantError(t, http.StatusUnauthorized, "InvalidAuthenticationToken", "")
		checkClaimsChallenge(t, r.header.Get("WWW-Authenticate"), claimsOf(t, tok))
	})
}

var claimsParamRE = regexp.MustCompile(`claims="([^"]*)"`)

// checkClaimsChallenge: Graph's CAE challenge (facts §5) whose claims
// parameter is standard base64 of {"access_token":{"nbf":{"essential":true,
// "value":"<unix time after the token's iat>"}}}.
func checkClaimsChallenge(t *testing.T, h string, tokenClaims map[string]any) {
	t.Helper()
	if !strings.HasPrefix(h, graphChallenge) || !strings.Contains(h, `error="insufficient_claims"`) {
		t.Errorf("WWW-Authenticate = %q", h)
	}
	m := claimsParamRE.FindStringSubmatch(h)
	if m == nil {
		t.Fatalf("no claims= in %q", h)
	}
	raw, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		t.Fatalf("claims %q is not standard base64: %v", m[1], err)
	}
	var c struct {
		AccessToken struct {
			Nbf struct {
				Essential bool   `json:"essential"`
				Value     string `json:"value"`
			} `json:"nbf"`
		} `json:"access_token"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("claims %s: %v", raw, err)
	}
	nbf, err := strconv.ParseInt(c.AccessToken.Nbf.Value, 10, 64)
	iat, _ := tokenClaims["iat"].(float64)
	if !c.AccessToken.Nbf.Essential || err != nil || nbf < int64(iat) {
		t.Errorf("claims = %s, token iat %v", raw, iat)
	}
}

// TestGraphWriteAndDeltaAfterDelete: with User.ReadWrite.All granted, users
// are created, updated and deleted through Graph, and the delta round after
// that returns exactly the three changes, the deleted user as @removed.
func TestGraphWriteAndDeltaAfterDelete(t *testing.T) {
	srv := startTenant(t)
	if err := srv.GrantAppRole(daemonAppID, devtenant.GraphAppID, "User.ReadWrite.All"); err != nil {
		t.Fatal(err)
	}
	if err := srv.GrantAppRole(daemonAppID, devtenant.GraphAppID, "Nope.All"); err == nil {
		t.Fatal("GrantAppRole accepted an unknown permission")
	}
	ctx := context.Background()
	tok := graphAppToken(t, srv, daemonAppID, graphDefault)
	do := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequestWithContext(ctx, method, srv.GraphURL()+"/v1.0"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	// First delta round, to its end.
	link := "/users/delta"
	for {
		st, page := do("GET", link, "")
		if st != 200 {
			t.Fatalf("delta: %d %v", st, page)
		}
		if dl, ok := page["@odata.deltaLink"].(string); ok {
			link = strings.TrimPrefix(dl, srv.GraphURL()+"/v1.0")
			break
		}
		link = strings.TrimPrefix(page["@odata.nextLink"].(string), srv.GraphURL()+"/v1.0")
	}
	st, created := do("POST", "/users", `{"accountEnabled":true,"displayName":"New Hire","mailNickname":"newhire","userPrincipalName":"newhire@`+srv.Domain()+`","passwordProfile":{"password":"Xy!12345678"}}`)
	if st != 201 || created["id"] == nil {
		t.Fatalf("create: %d %v", st, created)
	}
	if st, out := do("POST", "/users", `{"accountEnabled":true,"displayName":"Dup","mailNickname":"newhire","userPrincipalName":"newhire@`+srv.Domain()+`","passwordProfile":{"password":"x"}}`); st != 400 {
		t.Fatalf("duplicate UPN: %d %v", st, out)
	}
	adele, _ := srv.Persona("AdeleV")
	if st, out := do("PATCH", "/users/"+adele.OID, `{"jobTitle":"Head of Retail"}`); st != 204 {
		t.Fatalf("update: %d %v", st, out)
	}
	alex, _ := srv.Persona("AlexW")
	if st, out := do("DELETE", "/users/"+alex.OID, ""); st != 204 {
		t.Fatalf("delete: %d %v", st, out)
	}
	if st, _ := do("GET", "/users/"+alex.OID, ""); st != 404 {
		t.Fatalf("deleted user: %d, want 404", st)
	}
	st, page := do("GET", link, "")
	if st != 200 {
		t.Fatalf("delta round 2: %d %v", st, page)
	}
	got := map[string]string{}
	for _, v := range page["value"].([]any) {
		o := v.(map[string]any)
		state := "changed"
		if _, removed := o["@removed"]; removed {
			state = "removed"
		}
		got[o["id"].(string)] = state
	}
	want := map[string]string{created["id"].(string): "changed", adele.OID: "changed", alex.OID: "removed"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delta after create, update, delete = %v, want %v", got, want)
	}
}
