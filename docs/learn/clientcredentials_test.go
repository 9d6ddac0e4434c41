package learn_test

import (
	"context"
	"fmt"
	"sort"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/internal/devmode"
)

// Example_clientCredentials is topic 05: the daemon gets a token as
// itself, with no user: the client credentials grant through
// entra.NewAppTokenCredential. The token carries the application
// permissions an administrator granted (roles), no scp; the second call is
// served from MSAL's cache; delegated scopes are refused.
func Example_clientCredentials() {
	d := dev()
	ctx := context.Background()
	cred, err := entra.NewAppTokenCredential(devmode.DaemonConfig(d.srv), entra.AppTokenOptions{HTTPClient: d.client})
	must(err)
	app := cred.(*entra.TokenCredential) // a secret: MSAL's confidential client
	graph := policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}

	first, err := app.Acquire(ctx, graph)
	must(err)
	second, err := app.Acquire(ctx, graph)
	must(err)
	fmt.Println("first from cache:", entra.FromCache(first))
	fmt.Println("second from cache:", entra.FromCache(second), "same token:", second.AccessToken == first.AccessToken)

	c := claimsOf(first.AccessToken)
	var roles []string
	for _, r := range c["roles"].([]any) {
		roles = append(roles, r.(string))
	}
	sort.Strings(roles)
	fmt.Println("idtyp:", c["idtyp"], "scp:", c["scp"] != nil)
	fmt.Println("roles:", roles)

	status, page := d.graph("/v1.0/users?$top=3&$select=displayName", first.AccessToken)
	fmt.Println("GET /users:", status, len(page["value"].([]any)), "users")
	status, _ = d.graph("/v1.0/me", first.AccessToken)
	fmt.Println("GET /me:", status, "(no user in an app-only token)")

	// Client credentials take <resource>/.default only.
	_, err = app.Acquire(ctx, policy.TokenRequestOptions{Scopes: []string{"User.Read"}})
	fmt.Println("User.Read:", aadsts(err))
	// Output:
	// first from cache: false
	// second from cache: true same token: true
	// idtyp: app scp: false
	// roles: [Application.Read.All GroupMember.Read.All User.Read.All]
	// GET /users: 200 3 users
	// GET /me: 400 (no user in an app-only token)
	// User.Read: invalid_scope AADSTS1002012
}
