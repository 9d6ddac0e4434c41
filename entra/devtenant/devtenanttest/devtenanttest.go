package devtenanttest

import (
	"strings"
	"testing"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/infra"
)

// Start starts a dev tenant registering infra's apps, with the options
// mutate adjust, and closes it when t ends. It fails t on error.
func Start(t testing.TB, mutate ...func(*devtenant.Options)) *devtenant.Server {
	t.Helper()
	opts := devtenant.Options{Manifest: infra.AppRegistration()}
	for _, m := range mutate {
		m(&opts)
	}
	srv, err := devtenant.New(opts)
	if err != nil {
		t.Fatalf("devtenanttest: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("devtenanttest: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// Persona returns the persona signing in as alias (the part of the username
// before the @, e.g. "AdeleV"). It fails t if srv has none.
func Persona(t testing.TB, srv *devtenant.Server, alias string) devtenant.Persona {
	t.Helper()
	p, ok := srv.Persona(alias)
	if !ok {
		t.Fatalf("devtenanttest: no persona %q", alias)
	}
	return p
}

// GuestHomePersona returns one of Fabrikam's people (srv.GuestHome(), the
// second tenant) by alias, e.g. "kai". It fails t if there is none.
func GuestHomePersona(t testing.TB, srv *devtenant.Server, alias string) devtenant.Persona {
	t.Helper()
	for _, p := range srv.GuestHome().Personas() {
		if strings.EqualFold(strings.SplitN(p.Username, "@", 2)[0], alias) {
			return p
		}
	}
	t.Fatalf("devtenanttest: Fabrikam has no persona %q", alias)
	return devtenant.Persona{}
}

// Apps are the ids of the apps a tenant started here registers (infra's
// manifest).
func Apps() infra.AppIDs { return infra.Apps() }

// Manifest is infra's app-registration manifest, for tests that build a
// tenant with devtenant.New without starting it.
func Manifest() []byte { return infra.AppRegistration() }
