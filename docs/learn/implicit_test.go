package learn_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/entrakit/entrakit/entra"
)

// Example_implicitFlowRefused is topic 06: the implicit grant asked the
// authorize endpoint for the token itself, in the redirect URI's fragment.
// The web app's registration leaves implicit issuance off (as it should),
// so the dev tenant, like Entra, refuses: the error comes back in the
// fragment. The code flow's answer carries a code and no token.
func Example_implicitFlowRefused() {
	d := dev()
	noRedirect := *d.client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// As msal.js 1.x asked: the response in the fragment.
	implicit := func(responseType string) *url.URL {
		q := url.Values{"client_id": {apps.WebApp}, "response_type": {responseType}, "response_mode": {"fragment"},
			"redirect_uri": {webRedirect}, "scope": {"openid User.Read"}, "state": {"s1"}, "nonce": {"n1"}}
		resp, err := noRedirect.Get(d.authorizeURL(q))
		must(err)
		resp.Body.Close()
		loc, err := resp.Location()
		must(err)
		return loc
	}

	for _, rt := range []string{"token", "id_token"} {
		loc := implicit(rt)
		frag, err := url.ParseQuery(loc.Fragment)
		must(err)
		fmt.Printf("response_type=%s: %s (state %s, query empty: %t)\n", rt, aadsts(entra.AuthorizeError(frag)),
			frag.Get("state"), loc.RawQuery == "")
	}

	// The code flow: the browser signs in and brings back a code.
	q := url.Values{"client_id": {apps.WebApp}, "response_type": {"code"}, "redirect_uri": {webRedirect},
		"scope": {"openid User.Read"}, "state": {"s2"}}
	resp, err := d.browser("AdeleV").Authorize(context.Background(), d.authorizeURL(q))
	must(err)
	fmt.Println("response_type=code:", resp.Mode, keys(resp.Params))
	// Output:
	// response_type=token: unsupported_response_type AADSTS700051 (state s1, query empty: true)
	// response_type=id_token: unsupported_response_type AADSTS700054 (state s1, query empty: true)
	// response_type=code: query [code session_state state]
}
