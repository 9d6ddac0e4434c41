package learn_test

import (
	"fmt"
	"strings"
)

// Example_delegation is topic 01: entractl, a public client, acts for
// Adele without ever seeing her password. The dev tenant's sign-in page
// takes the password; the app gets a token that says for whom, for which
// API, with which permissions and until when — and Graph holds it to that.
func Example_delegation() {
	d := dev()
	adele := d.persona("AdeleV")

	// entractl login: the browser, not the app, talks to the sign-in page.
	_, res := d.cliSignIn("AdeleV", "User.Read")

	c := claimsOf(res.AccessToken)
	fmt.Println("for the user:", c["oid"] == adele.OID)
	fmt.Println("for the API:", c["aud"])
	scp := " " + c["scp"].(string) + " "
	fmt.Println("delegated: User.Read", strings.Contains(scp, " User.Read "), "User.Read.All", strings.Contains(scp, " User.Read.All "))
	exp, iat := c["exp"].(float64), c["iat"].(float64)
	fmt.Println("expires within 2 hours:", exp-iat <= 2*3600)

	// The token opens what was delegated, and nothing else.
	status, me := d.graph("/v1.0/me", res.AccessToken)
	fmt.Println("GET /me:", status, me["displayName"])
	status, _ = d.graph("/v1.0/users", res.AccessToken)
	fmt.Println("GET /users:", status)
	// Output:
	// for the user: true
	// for the API: https://graph.microsoft.com
	// delegated: User.Read true User.Read.All false
	// expires within 2 hours: true
	// GET /me: 200 Adele Vance
	// GET /users: 403
}
