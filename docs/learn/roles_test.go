package learn_test

import (
	"context"
	"fmt"

	"github.com/entrakit/entrakit/entra"
)

// Example_fourRoles is topic 02: one access token names all four OAuth
// roles. entractl (the client) gets it from the dev tenant (the
// authorization server) for Adele (the resource owner) to call the web API
// (the resource server), which checks it; Graph, another resource server,
// refuses it.
func Example_fourRoles() {
	d := dev()
	adele := d.persona("AdeleV")
	_, res := d.cliSignIn("AdeleV", apiScope)
	c := claimsOf(res.AccessToken)

	fmt.Println("resource owner (oid) is Adele:", c["oid"] == adele.OID)
	fmt.Println("client (azp) is entractl:", c["azp"] == apps.CLI)
	fmt.Println("authorization server (iss) is the dev tenant:", c["iss"] == d.srv.Issuer())
	fmt.Println("resource server (aud) is the web API:", c["aud"] == apps.WebApp)

	// The resource server decides: the web API accepts the token...
	_, err := d.apiValidator().ValidateAccessToken(context.Background(), res.AccessToken,
		entra.AccessPolicy{Scopes: []string{"access_as_user"}})
	fmt.Println("web API:", reason(err))
	// ...and Graph, for which it was not issued, does not.
	status, _ := d.graph("/v1.0/me", res.AccessToken)
	fmt.Println("Graph:", status)
	// Output:
	// resource owner (oid) is Adele: true
	// client (azp) is entractl: true
	// authorization server (iss) is the dev tenant: true
	// resource server (aud) is the web API: true
	// web API: accepted
	// Graph: 401
}
