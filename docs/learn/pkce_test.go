package learn_test

import (
	"context"
	"fmt"
	"net/url"

	"golang.org/x/oauth2"
)

// Example_pkce is topic 10: a public client (entractl) has no secret, so
// anyone who steals its code could redeem it — unless the code is bound to
// a secret the client made for this one sign-in: the PKCE verifier, whose
// SHA-256 (the challenge) went to the authorize endpoint. The requests are
// built by hand here; MSAL's AcquireTokenInteractive sends the same ones.
func Example_pkce() {
	d := dev()
	verifier := oauth2.GenerateVerifier() // 32 random bytes, RFC 7636 §4.1
	q := url.Values{
		"client_id": {apps.CLI}, "response_type": {"code"}, "redirect_uri": {"http://localhost"},
		"scope": {apiScope + " openid offline_access"}, "state": {"s1"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
	}
	resp, err := d.browser("AdeleV").Authorize(context.Background(), d.authorizeURL(q))
	must(err)
	fmt.Println("challenge is not the verifier:", q.Get("code_challenge") != verifier)

	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {apps.CLI},
		"code": {resp.Params.Get("code")}, "redirect_uri": {"http://localhost"}}
	_, err = d.redeem(form, "")
	fmt.Println("stolen code, no verifier:", aadsts(err))
	form.Set("code_verifier", oauth2.GenerateVerifier())
	_, err = d.redeem(form, "")
	fmt.Println("stolen code, a guessed verifier:", aadsts(err))
	form.Set("code_verifier", verifier)
	tok, err := d.redeem(form, "")
	must(err)
	fmt.Println("the client's verifier:", tok["access_token"] != nil, "refresh token:", tok["refresh_token"] != nil)
	fmt.Println("azpacr (0: public client, no secret):", claimsOf(tok["access_token"].(string))["azpacr"])
	// Output:
	// challenge is not the verifier: true
	// stolen code, no verifier: invalid_grant AADSTS501481
	// stolen code, a guessed verifier: invalid_grant AADSTS501481
	// the client's verifier: true refresh token: true
	// azpacr (0: public client, no secret): 0
}
