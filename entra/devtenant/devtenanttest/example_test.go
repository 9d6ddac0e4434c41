package devtenanttest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
)

// A test starts its own dev tenant, signs a persona in through the scripted
// browser and talks to the tenant over its client. (Compiled, not run: a
// real test passes its own t.)
func Example() {
	t := &testing.T{} // the test's t
	srv := devtenanttest.Start(t, func(o *devtenant.Options) {
		o.AccessTokenLifetime = 10 * time.Minute // the shortest Entra allows
	})

	adele := devtenanttest.Persona(t, srv, "AdeleV")
	browser := srv.NewBrowser(adele.Username, adele.Password)
	authorizeURL := "" // from the client under test, e.g. entra.SignIn.Begin
	resp, err := browser.Authorize(context.Background(), authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Params // the callback's query: code and state

	// srv.Client trusts the tenant's CA; give it to the client under test.
	res, err := srv.Client().Get(srv.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("discovery: %s", res.Status)
	}
}
