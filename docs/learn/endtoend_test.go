package learn_test

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/internal/devmode"
)

// Example_endToEnd is topic 13: entrakit's two services against Entra (the
// dev tenant) and Graph, with the libraries they use. The web app signs a
// user in and reads Graph as that user through entra.TokenCredential; the
// daemon reads Graph as itself and calls the web API's report endpoint,
// which accepts only app-only tokens carrying its Reports.Read.All role.
func Example_endToEnd() {
	d := dev()
	ctx := context.Background()

	// The web app: sign-in (topic 03); Megan holds the app role Admin.
	app, res, _ := d.webSignIn("MeganB", "User.Read")
	fmt.Println("web app, signed in:", res.Identity.Name, res.Identity.Roles)
	user := &entra.TokenCredential{Client: app, Account: &res.Account, Scopes: []string{"User.Read"}}
	tok, err := user.GetToken(ctx, policy.TokenRequestOptions{})
	must(err)
	status, me := d.graph("/v1.0/me", tok.Token)
	fmt.Println("web app, GET /me:", status, me["displayName"])

	// The daemon: client credentials (topic 05), then the directory sync's read.
	daemon, err := entra.NewAppTokenCredential(devmode.DaemonConfig(d.srv), entra.AppTokenOptions{HTTPClient: d.client})
	must(err)
	tok, err = daemon.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	must(err)
	status, page := d.graph("/v1.0/users?$select=displayName&$top=5", tok.Token)
	fmt.Println("daemon, GET /users:", status, len(page["value"].([]any)), "users")

	// The daemon at the web API's GET /api/reports/usage.
	tok, err = daemon.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://" + apps.WebApp + "/.default"}})
	must(err)
	reports := entra.AccessPolicy{AppOnlyRequired: true, Roles: []string{"Reports.Read.All"}}
	_, err = d.apiValidator().ValidateAccessToken(ctx, tok.Token, reports)
	fmt.Println("daemon at /api/reports/usage:", reason(err))
	// A user's token (entractl's, for access_as_user) is not a daemon's.
	_, cli := d.cliSignIn("MeganB", apiScope)
	_, err = d.apiValidator().ValidateAccessToken(ctx, cli.AccessToken, reports)
	fmt.Println("Megan at /api/reports/usage:", reason(err))
	// Output:
	// web app, signed in: Megan Bowen [Admin]
	// web app, GET /me: 200 Megan Bowen
	// daemon, GET /users: 200 5 users
	// daemon at /api/reports/usage: accepted
	// Megan at /api/reports/usage: refused: wrong token type
}
