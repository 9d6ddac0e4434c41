package entra

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const (
	testTenant = "9b1c2d3e-4f50-4a6b-8c7d-0e1f2a3b4c5d"
	testClient = "5c3a1e7b-2d4f-4e6a-9b8c-1d2e3f4a5b6c"
)

func validConfig() Config {
	return Config{TenantID: testTenant, ClientID: testClient, RedirectURI: "https://app.example.com/auth/callback"}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		fields []string // fields expected in the error, in order; none means valid
	}{
		{"valid single tenant", func(*Config) {}, nil},
		{"valid domain tenant", func(c *Config) { c.TenantID = "contoso.onmicrosoft.com" }, nil},
		{"valid common with allow list", func(c *Config) { c.TenantID = "common"; c.AllowedTenants = []string{testTenant} }, nil},
		{"valid organizations", func(c *Config) { c.TenantID = "Organizations"; c.AllowedTenants = []string{"*"} }, nil},
		{"valid http loopback redirect", func(c *Config) { c.RedirectURI = "http://localhost:8080/auth/callback" }, nil},
		{"valid http 127.0.0.1 redirect", func(c *Config) { c.RedirectURI = "http://127.0.0.1:8400/" }, nil},
		{"valid http [::1] redirect", func(c *Config) { c.RedirectURI = "http://[::1]:8400/cb" }, nil},
		{"valid no redirect (daemon)", func(c *Config) { c.RedirectURI = "" }, nil},
		{"valid secret", func(c *Config) { c.Credential.ClientSecret = "s3cr3t~value" }, nil},
		{"valid certificate with password", func(c *Config) {
			c.Credential = Credential{CertificatePath: "/etc/app.pfx", CertificatePassword: "pw"}
		}, nil},
		{"valid assertion file", func(c *Config) { c.Credential.ClientAssertionFile = "/var/run/token" }, nil},
		{"valid system managed identity", func(c *Config) { c.Credential.ManagedIdentity = &ManagedIdentity{} }, nil},
		{"valid user managed identity", func(c *Config) { c.Credential.ManagedIdentity = &ManagedIdentity{ClientID: testClient} }, nil},
		{"valid custom cloud", func(c *Config) {
			c.Cloud = Cloud{Name: "custom", AuthorityHost: "https://localhost:8443/", GraphEndpoint: "https://localhost:8444"}
		}, nil},

		{"tenant missing", func(c *Config) { c.TenantID = "" }, []string{"TenantID"}},
		{"tenant consumers", func(c *Config) { c.TenantID = "consumers" }, []string{"TenantID"}},
		{"tenant garbage", func(c *Config) { c.TenantID = "not a tenant" }, []string{"TenantID"}},
		{"tenant bad label", func(c *Config) { c.TenantID = "-bad.example.com" }, []string{"TenantID"}},
		{"client missing", func(c *Config) { c.ClientID = "" }, []string{"ClientID"}},
		{"client not guid", func(c *Config) { c.ClientID = "my-app" }, []string{"ClientID"}},
		{"client guid with braces", func(c *Config) { c.ClientID = "{" + testClient + "}" }, []string{"ClientID"}},
		{"two credentials", func(c *Config) {
			c.Credential = Credential{ClientSecret: "x", CertificatePath: "/c.pem"}
		}, []string{"Credential"}},
		{"password without certificate", func(c *Config) { c.Credential.CertificatePassword = "pw" }, []string{"Credential.CertificatePassword"}},
		{"secret with whitespace", func(c *Config) { c.Credential.ClientSecret = "abc\n" }, []string{"Credential.ClientSecret"}},
		{"managed identity bad id", func(c *Config) { c.Credential.ManagedIdentity = &ManagedIdentity{ClientID: "x"} }, []string{"Credential.ManagedIdentity.ClientID"}},
		{"redirect relative", func(c *Config) { c.RedirectURI = "/auth/callback" }, []string{"RedirectURI"}},
		{"redirect http remote", func(c *Config) { c.RedirectURI = "http://app.example.com/cb" }, []string{"RedirectURI"}},
		{"redirect fragment", func(c *Config) { c.RedirectURI = "https://app.example.com/cb#x" }, []string{"RedirectURI"}},
		{"redirect javascript", func(c *Config) { c.RedirectURI = "javascript:alert(1)" }, []string{"RedirectURI"}},
		{"redirect userinfo", func(c *Config) { c.RedirectURI = "https://u:p@app.example.com/cb" }, []string{"RedirectURI"}},
		{"redirect too long", func(c *Config) { c.RedirectURI = "https://app.example.com/" + strings.Repeat("a", 250) }, []string{"RedirectURI"}},
		{"allowed tenants on single tenant", func(c *Config) { c.AllowedTenants = []string{testTenant} }, []string{"AllowedTenants"}},
		{"allowed tenant not guid", func(c *Config) { c.TenantID = "common"; c.AllowedTenants = []string{"contoso.com"} }, []string{"AllowedTenants[0]"}},
		{"multi-tenant without an allow list", func(c *Config) { c.TenantID = "organizations" }, []string{"AllowedTenants"}},
		{"star among tenants", func(c *Config) { c.TenantID = "common"; c.AllowedTenants = []string{testTenant, "*"} }, []string{"AllowedTenants"}},
		{"valid organizations with star", func(c *Config) { c.TenantID = "organizations"; c.AllowedTenants = []string{"*"} }, nil},
		{"authority http", func(c *Config) {
			c.Cloud = Cloud{AuthorityHost: "http://localhost:8443/", GraphEndpoint: "https://graph.microsoft.com"}
		}, []string{"Cloud.AuthorityHost"}},
		{"graph endpoint with query", func(c *Config) {
			c.Cloud = Cloud{AuthorityHost: "https://login.microsoftonline.com/", GraphEndpoint: "https://graph.microsoft.com?x=1"}
		}, []string{"Cloud.GraphEndpoint"}},
		{"everything wrong at once", func(c *Config) {
			*c = Config{ClientID: "x", RedirectURI: "ftp://x", Credential: Credential{ClientSecret: "a", ClientAssertionFile: "b"}}
		}, []string{"TenantID", "ClientID", "Credential", "RedirectURI"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors on %v", tt.fields)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("errors.Is(err, ErrInvalidConfig) = false for %v", err)
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("error %v is not a *FieldError", e)
				}
				if fe.Msg == "" {
					t.Errorf("field %s has an empty message", fe.Field)
				}
				got = append(got, fe.Field)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.fields) {
				t.Errorf("fields = %v, want %v (err: %v)", got, tt.fields, err)
			}
		})
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	c := validConfig()
	c.Credential = Credential{ClientSecret: "very-secret-value", CertificatePassword: "pfx-password"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(c.Validate())} {
		if strings.Contains(s, "very-secret-value") || strings.Contains(s, "pfx-password") {
			t.Errorf("secret printed: %s", s)
		}
	}
}

func TestTenantAllowed(t *testing.T) {
	other := "11111111-2222-3333-4444-555555555555"
	tests := []struct {
		tenant  string
		allowed []string
		tid     string
		want    bool
	}{
		{testTenant, nil, testTenant, true},
		{testTenant, nil, strings.ToUpper(testTenant), true},
		{testTenant, nil, other, false},
		// An empty list under common admits nobody (Validate refuses it):
		// "*" is the explicit choice of any work or school tenant.
		{"common", nil, other, false},
		{"common", []string{"*"}, other, true},
		{"common", []string{"*"}, "not-a-guid", false},
		{"common", []string{"*"}, "9188040d-6c67-4c5b-b112-36a304b66dad", false}, // personal Microsoft accounts
		{"organizations", []string{"*"}, testTenant, true},
		{"organizations", []string{testTenant}, testTenant, true},
		{"organizations", []string{testTenant}, other, false},
		// A domain names a tenant whose id Config cannot know: fail closed
		// (DiscoverValidator resolves it from the discovery document).
		{"contoso.onmicrosoft.com", nil, other, false},
		{"contoso.onmicrosoft.com", nil, testTenant, false},
	}
	for _, tt := range tests {
		c := Config{TenantID: tt.tenant, AllowedTenants: tt.allowed}
		if got := c.TenantAllowed(tt.tid); got != tt.want {
			t.Errorf("Config{%s,%v}.TenantAllowed(%s) = %v, want %v", tt.tenant, tt.allowed, tt.tid, got, tt.want)
		}
	}
}

func TestCloud(t *testing.T) {
	for _, name := range []string{"public", "AzurePublic", "", "usgov", "AzureGovernment", "china", "AzureChina"} {
		c, err := CloudByName(name)
		if err != nil {
			t.Fatalf("CloudByName(%q): %v", name, err)
		}
		if !c.IsMicrosoftHost() {
			t.Errorf("%s: IsMicrosoftHost = false", name)
		}
		if (Config{Cloud: c, TenantID: testTenant, ClientID: testClient}).Validate() != nil {
			t.Errorf("%s: built-in cloud does not validate", name)
		}
	}
	if _, err := CloudByName("mars"); err == nil {
		t.Error("CloudByName(mars) = nil error")
	}
	dev := Cloud{AuthorityHost: "https://localhost:8443/"}
	if dev.IsMicrosoftHost() {
		t.Error("localhost is a Microsoft host?")
	}
	if got, want := dev.Authority("common"), "https://localhost:8443/common"; got != want {
		t.Errorf("Authority = %q, want %q", got, want)
	}
	if got, want := AzureChina.GraphScope(), "https://microsoftgraph.chinacloudapi.cn/.default"; got != want {
		t.Errorf("GraphScope = %q, want %q", got, want)
	}
	if got, want := (Cloud{}).Authority("x"), "https://login.microsoftonline.com/x"; got != want {
		t.Errorf("zero cloud Authority = %q, want %q", got, want)
	}
}
