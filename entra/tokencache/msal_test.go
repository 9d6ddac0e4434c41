package tokencache_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/internal/signintest"
	"github.com/entrakit/entrakit/internal/testredis"
	"github.com/redis/go-redis/v9"
)

const webRedirect = "http://localhost:8080/auth/callback"

type env struct {
	srv    *devtenant.Server
	cfg    entra.Config
	client *http.Client
}

func startTenant(t testing.TB) *env {
	t.Helper()
	srv := devtenanttest.Start(t)
	return &env{srv: srv, client: srv.Client(), cfg: devmode.WebAppConfig(srv, webRedirect)}
}

// replica is one web app instance: a router client for sign-ins and a pool
// of per-partition clients for silent calls, over c.
type replica struct {
	router  confidential.Client
	clients *tokencache.Clients[confidential.Client]
}

func (e *env) replica(t testing.TB, c *tokencache.Cache) *replica {
	t.Helper()
	build := func(a cache.ExportReplace) (confidential.Client, error) {
		return entra.NewConfidentialClient(e.cfg, entra.ClientOptions{HTTPClient: e.client, Cache: a})
	}
	router, err := build(c.Router())
	if err != nil {
		t.Fatal(err)
	}
	return &replica{router: router, clients: tokencache.NewClients(c, 0, build)}
}

// signIn drives a real sign-in for alias and redeems the code through the
// router client; it returns the MSAL account.
func (e *env) signIn(t testing.TB, r *replica, alias string) (confidential.Account, string) {
	t.Helper()
	si := &entra.SignIn{Client: r.router, Config: e.cfg, Validator: validator(t, e)}
	p := devtenanttest.Persona(t, e.srv, alias)
	res, _, err := signintest.SignIn(context.Background(), si, e.srv.NewBrowser(p.Username, p.Password), entra.BeginOptions{Scopes: []string{"User.Read"}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Account, p.OID
}

func validator(t testing.TB, e *env) *entra.Validator {
	md, err := entra.Discover(context.Background(), e.client, e.cfg.Authority())
	if err != nil {
		t.Fatal(err)
	}
	return entra.NewValidator(e.cfg, &entra.RemoteKeySet{JWKSURL: md.JWKSURI, HTTPClient: e.client})
}

func oidOf(t testing.TB, jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct{ Oid string }
	json.Unmarshal(b, &c)
	return c.Oid
}

func newCache(store tokencache.Store) *tokencache.Cache {
	ring, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
	return &tokencache.Cache{Store: store, Keys: ring, Metrics: &tokencache.Metrics{}}
}

func TestSignInThenSilentFromAnotherReplica(t *testing.T) {
	e := startTenant(t)
	ctx := context.Background()
	store := tokencache.NewMemoryStore(tokencache.MemoryOptions{})
	c := newCache(store)
	r1 := e.replica(t, c)
	acct, oid := e.signIn(t, r1, "AdeleV")
	if store.Len() != 1 {
		t.Fatalf("store has %d partitions after one sign-in", store.Len())
	}

	client, err := r1.clients.Get(acct.HomeAccountID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.AcquireTokenSilent(ctx, []string{"User.Read"}, confidential.WithSilentAccount(acct))
	if err != nil {
		t.Fatal(err)
	}
	if oidOf(t, res.AccessToken) != oid {
		t.Fatal("silent call returned another user's token")
	}
	// A second replica (same store, same keys, its own clients) sees it.
	r2 := e.replica(t, &tokencache.Cache{Store: store, Keys: c.Keys, Metrics: &tokencache.Metrics{}})
	c2, _ := r2.clients.Get(acct.HomeAccountID)
	res2, err := c2.AcquireTokenSilent(ctx, []string{"User.Read"}, confidential.WithSilentAccount(acct))
	if err != nil || res2.AccessToken != res.AccessToken {
		t.Fatalf("replica 2: %v (same token: %v)", err, res2.AccessToken == res.AccessToken)
	}
	// A refresh on replica 2 (new scope string) is seen by replica 1's client.
	res3, err := c2.AcquireTokenSilent(ctx, []string{"https://graph.microsoft.com/User.Read"}, confidential.WithSilentAccount(acct))
	if err != nil {
		t.Fatal(err)
	}
	before := c.Metrics.Decodes.Load()
	res4, err := client.AcquireTokenSilent(ctx, []string{"https://graph.microsoft.com/User.Read"}, confidential.WithSilentAccount(acct))
	if err != nil || res4.AccessToken != res3.AccessToken {
		t.Fatalf("replica 1 did not see replica 2's refresh: %v", err)
	}
	if c.Metrics.Decodes.Load() != before+1 {
		t.Errorf("decodes %d -> %d: want exactly one decode of the changed blob", before, c.Metrics.Decodes.Load())
	}
	// An unchanged blob is not decoded again.
	client.AcquireTokenSilent(ctx, []string{"User.Read"}, confidential.WithSilentAccount(acct))
	if c.Metrics.Decodes.Load() != before+1 {
		t.Error("an unchanged blob was decoded again")
	}
	// Sign-out removes the partition: silent fails on both replicas.
	if err := r1.clients.Remove(ctx, acct.HomeAccountID); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.AcquireTokenSilent(ctx, []string{"User.Read"}, confidential.WithSilentAccount(acct)); err == nil {
		t.Error("replica 2 still serves a token after sign-out")
	}
}

// TestConcurrentSilentNoWrongUser: many goroutines, different and identical
// users, two replicas sharing one Redis-backed cache, the dev tenant as the
// authority; every call succeeds and returns its own user's token.
func TestConcurrentSilentNoWrongUser(t *testing.T) {
	e := startTenant(t)
	rs := testredis.Start(t)
	opts, _ := tokencache.RedisOptions(rs.URL())
	rc := redis.NewClient(opts)
	defer rc.Close()
	ring, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
	replicas := []*replica{
		e.replica(t, &tokencache.Cache{Store: tokencache.NewLayered(tokencache.NewRedisStore(rc, ""), 100), Keys: ring}),
		e.replica(t, &tokencache.Cache{Store: tokencache.NewLayered(tokencache.NewRedisStore(rc, ""), 100), Keys: ring}),
	}
	type user struct {
		acct confidential.Account
		oid  string
	}
	var users []user
	for _, alias := range []string{"AdeleV", "AlexW", "MeganB", "DiegoS", "PattiF"} {
		a, oid := e.signIn(t, replicas[0], alias)
		users = append(users, user{a, oid})
	}
	ctx := context.Background()
	scopes := [][]string{{"User.Read"}, {"https://graph.microsoft.com/User.Read"}, {"openid", "User.Read"}}
	var failures, wrong atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				u := users[(g+i)%len(users)]
				r := replicas[(g*7+i)%2]
				client, err := r.clients.Get(u.acct.HomeAccountID)
				if err != nil {
					failures.Add(1)
					continue
				}
				res, err := client.AcquireTokenSilent(ctx, scopes[i%len(scopes)], confidential.WithSilentAccount(u.acct))
				if err != nil {
					failures.Add(1)
					t.Logf("silent: %v", err)
					continue
				}
				if oidOf(t, res.AccessToken) != u.oid {
					wrong.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failures.Load() != 0 || wrong.Load() != 0 {
		t.Fatalf("%d failures, %d wrong-user tokens out of 320 calls", failures.Load(), wrong.Load())
	}
}

func ExampleClients() {
	ring, err := tokencache.ParseKeyRing(tokencache.GenerateKey())
	if err != nil {
		panic(err)
	}
	c := &tokencache.Cache{Store: tokencache.NewMemoryStore(tokencache.MemoryOptions{}), Keys: ring}
	cfg := entra.Config{TenantID: "contoso.onmicrosoft.com", ClientID: "5c3a1e7b-2d4f-4e6a-9b8c-1d2e3f4a5b6c",
		Credential: entra.Credential{ClientSecret: "example"}}
	clients := tokencache.NewClients(c, 10_000, func(a cache.ExportReplace) (confidential.Client, error) {
		return entra.NewConfidentialClient(cfg, entra.ClientOptions{Cache: a})
	})
	// One client per signed-in user: AcquireTokenSilent on it reads only
	// that user's sealed partition.
	_, err = clients.Get("00000000-0000-0000-0000-000000000001.contoso-tenant-id")
	fmt.Println(err == nil, clients.Len())
	// Output: true 1
}
