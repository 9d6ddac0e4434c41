// Package devtenanttest starts a dev tenant for one test, as go-oidc's
// oidctest serves an OpenID provider: every entrakit package's tests talk to
// Entra ID and Microsoft Graph through it.
//
// [Start] builds the tenant from infra's app-registration manifest (the apps
// the binaries use), lets the test adjust its [devtenant.Options], starts it
// on free loopback ports with a fresh CA, and closes it when the test ends;
// any error fails the test. [Persona] returns the username and password a
// test signs in with (through [devtenant.Server.NewBrowser]).
//
// The dev tenant's client (trusting its CA) is [devtenant.Server.Client];
// internal/devmode turns the tenant into the entra.Config of the web app or
// the daemon. Like devtenant, this package imports no other entrakit package
// except the data-only infra (internal/deptest enforces it).
package devtenanttest
