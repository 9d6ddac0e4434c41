package devmode

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"time"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/infra"
)

// Tenant is what devmode reads of a running dev tenant: a
// *devtenant.Server, or one serving in another process.
type Tenant interface {
	URL() string      // the authority host, no trailing slash
	GraphURL() string // the Graph emulator's root
	TenantID() string
	ClientSecret(appID string) string
}

var _ Tenant = (*devtenant.Server)(nil)

// GraphScope is the scope of app-only Graph tokens from the dev tenant: it
// issues Graph tokens for Graph's public identifier, whatever host it serves
// Graph on (Cloud's GraphResource).
const GraphScope = "https://graph.microsoft.com/.default"

// Cloud is the dev tenant as an entra.Cloud named "dev": its Graph emulator
// at its own URL, for Graph's public identifier.
func Cloud(t Tenant) entra.Cloud {
	return entra.Cloud{Name: "dev", AuthorityHost: t.URL() + "/", GraphEndpoint: t.GraphURL(), GraphResource: "https://graph.microsoft.com"}
}

// WebAppConfig is the web app's configuration against t (client secret),
// redirecting to redirectURI.
func WebAppConfig(t Tenant, redirectURI string) entra.Config {
	cfg := appConfig(t, infra.Apps().WebApp)
	cfg.RedirectURI = redirectURI
	return cfg
}

// SPAClientID is the single-page app's registration in the dev tenant
// (the manifest's entrakit-spa), which the web app serves at /spa/.
func SPAClientID() string { return infra.Apps().SPA }

// DaemonConfig is the daemon's configuration against t (client secret).
func DaemonConfig(t Tenant) entra.Config { return appConfig(t, infra.Apps().Daemon) }

func appConfig(t Tenant, appID string) entra.Config {
	return entra.Config{
		Cloud:      Cloud(t),
		TenantID:   t.TenantID(),
		ClientID:   appID,
		Credential: entra.Credential{ClientSecret: t.ClientSecret(appID)},
	}
}

// HTTPClient is the client a command reaches Entra and Graph with, giving
// up after timeout. Against a dev tenant (dev non-nil) it trusts the
// tenant's CA only; otherwise it trusts roots (the system pool plus
// ENTRAKIT_CA_FILE), or the default roots when roots is nil.
func HTTPClient(dev *devtenant.Server, roots *x509.CertPool, timeout time.Duration) *http.Client {
	if dev != nil {
		c := dev.Client()
		c.Timeout = timeout
		return c
	}
	c := &http.Client{Timeout: timeout}
	if roots != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		c.Transport = t
	}
	return c
}
