package entra_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/internal/signintest"
)

// exampleTenant starts a dev tenant for an example, with the entrakit web
// app's configuration; it panics on error. Call stop when done.
func exampleTenant() (tt *tenant, stop func()) {
	srv, err := devmode.Start(devtenant.Options{})
	mustExample(err)
	tt, err = tenantOf(srv)
	mustExample(err)
	return tt, func() { srv.Close() }
}

func mustExample(err error) {
	if err != nil {
		panic(err)
	}
}

// exampleSignIn signs AdeleV in to the web app (as ExampleSignIn shows),
// asking for scopes; MSAL's cache in the returned client holds her tokens.
func exampleSignIn(tt *tenant, scopes ...string) (confidential.Client, *entra.SignInResult) {
	app, err := entra.NewConfidentialClient(tt.cfg, entra.ClientOptions{HTTPClient: tt.client})
	mustExample(err)
	si := &entra.SignIn{Client: app, Config: tt.cfg, Validator: entra.NewValidator(tt.cfg, tt.keys)}
	adele, _ := tt.srv.Persona("AdeleV")
	res, _, err := signintest.SignIn(context.Background(), si, tt.srv.NewBrowser(adele.Username, adele.Password), entra.BeginOptions{Scopes: scopes})
	mustExample(err)
	return app, res
}

// exampleAPIToken signs AdeleV in to the web app, asking for its own API's
// scope, and returns the access token MSAL cached for it.
func exampleAPIToken(tt *tenant) string {
	scope := "api://" + webAppID + "/access_as_user"
	app, res := exampleSignIn(tt, scope)
	at, err := app.AcquireTokenSilent(context.Background(), []string{scope}, confidential.WithSilentAccount(res.Account))
	mustExample(err)
	return at.AccessToken
}

func ExampleSignIn() {
	tt, stop := exampleTenant()
	defer stop()
	ctx := context.Background()

	app, err := entra.NewConfidentialClient(tt.cfg, entra.ClientOptions{HTTPClient: tt.client})
	mustExample(err)
	si := &entra.SignIn{Client: app, Config: tt.cfg, Validator: entra.NewValidator(tt.cfg, tt.keys)}

	// GET /login: begin, keep the transaction server-side (keyed by a
	// short-lived cookie holding txn.State), and redirect to authURL.
	authURL, txn, err := si.Begin(ctx, entra.BeginOptions{Scopes: []string{"User.Read"}, ReturnTo: "/reports"})
	mustExample(err)

	// The user signs in; here the dev tenant's scripted browser does it.
	adele, _ := tt.srv.Persona("AdeleV")
	resp, err := tt.srv.NewBrowser(adele.Username, adele.Password).Authorize(ctx, authURL)
	mustExample(err)

	// GET /auth/callback: complete with the callback's query (r.URL.Query()).
	res, err := si.Complete(ctx, txn, resp.Params)
	mustExample(err)
	fmt.Println("signed in:", res.Identity.Name)
	fmt.Println("same user:", res.Identity.ObjectID == adele.OID)
	fmt.Println("return to:", res.ReturnTo)
	// Output:
	// signed in: Adele Vance
	// same user: true
	// return to: /reports
}

func ExampleNewAppTokenCredential() {
	tt, stop := exampleTenant()
	defer stop()
	ctx := context.Background()

	// The daemon's app registration with its client secret: an app-only
	// *TokenCredential over an MSAL confidential client.
	cfg := devmode.DaemonConfig(tt.srv)
	cred, err := entra.NewAppTokenCredential(cfg, entra.AppTokenOptions{HTTPClient: tt.client})
	mustExample(err)

	// graphapi (kiota, azcore) asks with Graph's /.default scope.
	graph := policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}
	tok, err := cred.GetToken(ctx, graph)
	mustExample(err)
	fmt.Println("token:", tok.Token != "", "valid:", tok.ExpiresOn.After(time.Now()))

	// Acquire also says where the token came from: MSAL cached the first.
	res, err := cred.(*entra.TokenCredential).Acquire(ctx, graph)
	mustExample(err)
	fmt.Println("from cache:", entra.FromCache(res), "same:", res.AccessToken == tok.Token)
	// Output:
	// token: true valid: true
	// from cache: true same: true
}

func ExampleTokenCredential() {
	tt, stop := exampleTenant()
	defer stop()
	ctx := context.Background()

	// The web app signs AdeleV in; MSAL caches her tokens under her account.
	app, signedIn := exampleSignIn(tt, "User.Read")

	// Per request, the session's account names the token's owner; Scopes
	// are the page's delegated permissions (a graphapi client over cred
	// would ask for /.default).
	cred := &entra.TokenCredential{Client: app, Account: &signedIn.Account, Scopes: []string{"User.Read"}}
	res, err := cred.Acquire(ctx, policy.TokenRequestOptions{})
	mustExample(err)
	fmt.Println("from cache:", entra.FromCache(res))
	// Output:
	// from cache: true
}

func ExampleBearer() {
	tt, stop := exampleTenant()
	defer stop()

	// The web API accepts v2 access tokens for itself carrying access_as_user.
	v := entra.NewValidator(tt.cfg, tt.keys)
	v.Audiences = []string{webAppID, "api://" + webAppID}
	auth := &entra.Bearer{Validator: v, Policy: entra.AccessPolicy{Scopes: []string{"access_as_user"}}}
	api := httptest.NewServer(auth.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := entra.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello, %s", c.Name)
	})))
	defer api.Close()

	call := func(token string) {
		req, err := http.NewRequest(http.MethodGet, api.URL+"/api/me", nil)
		mustExample(err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		mustExample(err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			fmt.Println(resp.StatusCode, "WWW-Authenticate:", resp.Header.Get("WWW-Authenticate"))
			return
		}
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	call("")
	call(exampleAPIToken(tt))
	// Output:
	// 401 WWW-Authenticate: Bearer
	// 200 hello, Adele Vance
}

func ExampleSafeReturnPath() {
	for _, p := range []string{
		"/reports?id=7",
		"//evil.example",
		`/\evil.example`,
		"/%09/evil.example",
		"https://evil.example/",
		"javascript:alert(1)",
	} {
		fmt.Printf("%-24q -> %q\n", p, entra.SafeReturnPath(p))
	}
	// Output:
	// "/reports?id=7"          -> "/reports?id=7"
	// "//evil.example"         -> "/"
	// "/\\evil.example"        -> "/"
	// "/%09/evil.example"      -> "/"
	// "https://evil.example/"  -> "/"
	// "javascript:alert(1)"    -> "/"
}

func ExampleClaimsChallenge() {
	// A resource (here Microsoft Graph) answers 401 with a CAE claims
	// challenge: the user's session was revoked or a policy changed.
	h := http.Header{}
	h.Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", `+
		`client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", `+
		`claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzAwMDAwMDAwIn19fQ=="`)
	claims, ok, err := entra.ClaimsChallenge(h)
	mustExample(err)
	fmt.Println(ok, claims)

	// A CAE-capable client (cp1) adds its capabilities, then signs the user
	// in again with SignIn.Begin(ctx, entra.BeginOptions{Claims: withCP1}).
	withCP1, err := entra.MergeClaims(claims, []string{"cp1"})
	mustExample(err)
	fmt.Println(withCP1)
	// Output:
	// true {"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}
	// {"access_token":{"nbf":{"essential":true,"value":"1700000000"},"xms_cc":{"values":["cp1"]}}}
}
