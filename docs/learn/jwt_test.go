package learn_test

import (
	"context"
	"fmt"
	"time"

	"github.com/entrakit/entrakit/entra"
)

// Example_jwtValidation is topic 08: what the web API does with a bearer
// token before trusting a word of it. Anyone can decode a JWT; only the
// checks make it evidence: the signature against the issuer's keys (RS256
// only), issuer, audience, lifetime, then the API's own policy (scope).
func Example_jwtValidation() {
	d := dev()
	ctx := context.Background()
	_, res := d.cliSignIn("AdeleV", apiScope)
	token := res.AccessToken

	// Decoding needs no key: never mistake it for validation.
	h, c := headerOf(token), claimsOf(token)
	fmt.Println("header:", h["alg"], "kid present:", h["kid"] != nil)
	fmt.Println("roles:", c["roles"], "scp:", c["scp"])

	v := d.apiValidator()
	policy := entra.AccessPolicy{Scopes: []string{"access_as_user"}}
	check := func(what, token string, v *entra.Validator, p entra.AccessPolicy) {
		_, err := v.ValidateAccessToken(ctx, token, p)
		fmt.Printf("%s: %s\n", what, reason(err))
	}
	check("as issued", token, v, policy)
	check("Reader edited to Admin", tamper(token, `"Reader"`, `"Admin"`), v, policy)
	check(`"alg": "none", no signature`, unsigned(token), v, policy)
	check("at another API", token, &entra.Validator{Keys: v.Keys, Issuer: v.Issuer, Audiences: []string{"api://another-api"}}, policy)

	later := *v
	later.Now = func() time.Time { return time.Now().Add(3 * time.Hour) }
	check("three hours later", token, &later, policy)
	check("by an endpoint wanting Reports.Read", token, v, entra.AccessPolicy{Scopes: []string{"Reports.Read"}})
	// Output:
	// header: RS256 kid present: true
	// roles: [Reader] scp: access_as_user
	// as issued: accepted
	// Reader edited to Admin: refused: signature does not verify
	// "alg": "none", no signature: refused: unsupported signing algorithm
	// at another API: refused: audience mismatch
	// three hours later: refused: token expired
	// by an endpoint wanting Reports.Read: refused: insufficient scope
}
