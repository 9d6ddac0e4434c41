package graphapi_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
)

var cliAppID = infra.Apps().CLI // public client: User.Read

// graphDefault is the app-only Graph scope the dev tenant honours.
const graphDefault = devmode.GraphScope

// startTenant starts a dev tenant (identity and Graph listeners) for one
// test.
func startTenant(t testing.TB, mutate ...func(*devtenant.Options)) *devtenant.Server {
	t.Helper()
	srv := devtenanttest.Start(t, mutate...)
	// Registered after devtenanttest's Close, so it runs before it: the
	// tenant's shared client lets go of its connections first.
	t.Cleanup(func() {
		if hc, ok := clients.LoadAndDelete(srv); ok {
			hc.(*http.Client).CloseIdleConnections()
		}
	})
	return srv
}

// clients holds one HTTP client per dev tenant, so that its connections
// can be closed before the tenant.
var clients sync.Map // *devtenant.Server -> *http.Client

// tenantClient is the HTTP client (trusting the tenant's CA) every client
// of srv in a test shares.
func tenantClient(srv *devtenant.Server) *http.Client {
	hc, _ := clients.LoadOrStore(srv, srv.Client())
	return hc.(*http.Client)
}

// daemonCredential is azidentity's client-secret credential for the daemon
// app, configured for the dev tenant as entrakit's binaries do.
func daemonCredential(t testing.TB, srv *devtenant.Server) azcore.TokenCredential {
	t.Helper()
	return daemonCredentialAt(t, srv, tenantClient(srv))
}

// daemonCredentialAt is daemonCredential for any dev tenant (one in another
// process too), over hc.
func daemonCredentialAt(t testing.TB, tenant devmode.Tenant, hc *http.Client) azcore.TokenCredential {
	t.Helper()
	cfg := devmode.DaemonConfig(tenant)
	cred, err := azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.Credential.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions:            policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.Cloud.AuthorityHost}, Transport: hc},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// devOptions points graphapi at the dev tenant's Graph.
func devOptions(srv *devtenant.Server, scopes ...string) graphapi.Options {
	if len(scopes) == 0 {
		scopes = []string{graphDefault}
	}
	return graphapi.Options{BaseURL: srv.GraphURL(), Scopes: scopes, HTTPClient: tenantClient(srv)}
}

func appClient(t testing.TB, srv *devtenant.Server, mutate ...func(*graphapi.Options)) *graphapi.Client {
	t.Helper()
	o := devOptions(srv)
	for _, m := range mutate {
		m(&o)
	}
	c, err := graphapi.New(daemonCredential(t, srv), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// staticToken is a delegated access token obtained beforehand; it ignores
// the claims of a challenge, as a token cache serving a revoked token does.
type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// userToken signs alias in through MSAL's real interactive flow (the dev
// tenant's Browser in place of a person) as the entractl public client, and
// returns the Graph access token for scopes.
func userToken(t testing.TB, srv *devtenant.Server, alias string, scopes []string, capabilities ...string) string {
	t.Helper()
	p := devtenanttest.Persona(t, srv, alias)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := []public.Option{public.WithAuthority(srv.Authority()), public.WithHTTPClient(tenantClient(srv)), public.WithInstanceDiscovery(false)}
	if len(capabilities) > 0 {
		opts = append(opts, public.WithClientCapabilities(capabilities))
	}
	app, err := public.New(cliAppID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	browser := srv.NewBrowser(p.Username, p.Password)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	res, err := app.AcquireTokenInteractive(ctx, scopes, public.WithOpenURL(func(u string) error {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := browser.Authorize(ctx, u)
			if err == nil {
				var hr *http.Response
				if hr, err = resp.Deliver(ctx, http.DefaultClient); err == nil {
					hr.Body.Close()
				}
			}
			errc <- err
		}()
		return nil
	}))
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return res.AccessToken
}

func userClient(t testing.TB, srv *devtenant.Server, alias string, capabilities ...string) *graphapi.Client {
	t.Helper()
	c, err := graphapi.New(staticToken(userToken(t, srv, alias, []string{"User.Read"}, capabilities...)), devOptions(srv, "User.Read"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// recorder is a transport that notes what each request carried.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []http.Header
	urls []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Header.Clone())
	r.urls = append(r.urls, req.URL.String())
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) seen() ([]http.Header, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.reqs...), append([]string(nil), r.urls...)
}
