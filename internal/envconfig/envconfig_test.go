package envconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testKey is 32 bytes of base64 (a test key, not a secret of anything).
const testKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

const (
	tenant = "9b1c2d3e-4f50-4a6b-8c7d-0e1f2a3b4c5d"
	client = "5c3a1e7b-2d4f-4e6a-9b8c-1d2e3f4a5b6c"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     func(string) (string, bool)
		wantErr []string // substrings that must all appear; none means success
		check   func(t *testing.T, s Settings)
	}{
		{
			name: "dev mode when no client id",
			env:  env(),
			check: func(t *testing.T, s Settings) {
				if !s.DevTenant || s.Listen != "localhost:8080" {
					t.Errorf("DevTenant=%v Listen=%q", s.DevTenant, s.Listen)
				}
			},
		},
		{
			name:    "dev tenant off and no client id",
			env:     env("ENTRAKIT_DEV_TENANT", "off"),
			wantErr: []string{"AZURE_CLIENT_ID: required"},
		},
		{
			name:    "dev tenant bad value",
			env:     env("ENTRAKIT_DEV_TENANT", "maybe"),
			wantErr: []string{"ENTRAKIT_DEV_TENANT: want auto or off"},
		},
		{
			name: "real tenant with secret",
			env: env("AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", client, "AZURE_CLIENT_SECRET", "x~y",
				"ENTRAKIT_LISTEN", ":9000", "ENTRAKIT_DEV_TENANT", "off", "ENTRAKIT_TOKEN_CACHE_KEYS", testKey,
				"ENTRAKIT_TOKEN_CACHE_URL", "redis://cache:6379/0"),
			check: func(t *testing.T, s Settings) {
				if s.DevTenant || s.Entra.ClientID != client || s.Entra.Credential.Kind() != "secret" || s.Listen != ":9000" {
					t.Errorf("got %+v", s)
				}
				if !s.Entra.Cloud.IsMicrosoftHost() {
					t.Error("default cloud is not Microsoft's")
				}
			},
		},
		{
			name: "custom authority host and graph",
			env: env("AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", client, "ENTRAKIT_TOKEN_CACHE_KEYS", testKey,
				"AZURE_AUTHORITY_HOST", "https://localhost:8443/", "ENTRAKIT_GRAPH_URL", "https://localhost:8444/"),
			check: func(t *testing.T, s Settings) {
				if s.Entra.Cloud.IsMicrosoftHost() || s.Entra.Cloud.GraphEndpoint != "https://localhost:8444" {
					t.Errorf("cloud = %+v", s.Entra.Cloud)
				}
			},
		},
		{
			name: "china cloud",
			env:  env("AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", client, "ENTRAKIT_CLOUD", "china", "ENTRAKIT_TOKEN_CACHE_KEYS", testKey),
			check: func(t *testing.T, s Settings) {
				if s.Entra.Cloud.Name != "china" {
					t.Errorf("cloud = %+v", s.Entra.Cloud)
				}
			},
		},
		{
			name: "managed identity and allowed tenants",
			env: env("AZURE_TENANT_ID", "organizations", "AZURE_CLIENT_ID", client, "ENTRAKIT_TOKEN_CACHE_KEYS", testKey,
				"ENTRAKIT_MANAGED_IDENTITY", "system", "ENTRAKIT_ALLOWED_TENANTS", tenant+", "+tenant),
			check: func(t *testing.T, s Settings) {
				if s.Entra.Credential.ManagedIdentity == nil || len(s.Entra.AllowedTenants) != 2 {
					t.Errorf("got %+v", s.Entra)
				}
			},
		},
		{
			name:    "messages name the variables",
			env:     env("AZURE_CLIENT_ID", "my-app", "AZURE_AUTHORITY_HOST", "http://login.example.com"),
			wantErr: []string{"AZURE_CLIENT_ID: not a GUID: \"my-app\"", "AZURE_TENANT_ID: required", "AZURE_AUTHORITY_HOST: must be an https URL"},
		},
		{
			name: "two credentials named by variable",
			env: env("AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", client, "AZURE_CLIENT_SECRET", "s",
				"AZURE_CLIENT_CERTIFICATE_PATH", "/c.pem"),
			wantErr: []string{"credential: set only one of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH"},
		},
		{
			name:    "multi-tenant needs an allow list",
			env:     env("AZURE_TENANT_ID", "organizations", "AZURE_CLIENT_ID", client, "AZURE_CLIENT_SECRET", "s", "ENTRAKIT_TOKEN_CACHE_KEYS", testKey),
			wantErr: []string{"ENTRAKIT_ALLOWED_TENANTS: required for a multi-tenant app"},
		},
		{
			name:    "bad managed identity",
			env:     env("AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", client, "ENTRAKIT_MANAGED_IDENTITY", "me"),
			wantErr: []string{"ENTRAKIT_MANAGED_IDENTITY: not a GUID"},
		},
		{
			name:    "bad cloud and allowed tenants",
			env:     env("AZURE_TENANT_ID", "common", "AZURE_CLIENT_ID", client, "ENTRAKIT_CLOUD", "mars", "ENTRAKIT_ALLOWED_TENANTS", "contoso.com"),
			wantErr: []string{"ENTRAKIT_CLOUD: unknown cloud", "ENTRAKIT_ALLOWED_TENANTS: not a tenant id"},
		},
		{
			name:    "token cache keys required outside dev mode",
			env:     env("AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", client, "AZURE_CLIENT_SECRET", "s"),
			wantErr: []string{"ENTRAKIT_TOKEN_CACHE_KEYS: required outside dev mode"},
		},
		{
			name:    "short token cache key",
			env:     env("ENTRAKIT_TOKEN_CACHE_KEYS", "c2hvcnQ=", "ENTRAKIT_TOKEN_CACHE_URL", "mysql://x"),
			wantErr: []string{"ENTRAKIT_TOKEN_CACHE_KEYS: key 1: key is 5 bytes; need at least 32", "ENTRAKIT_TOKEN_CACHE_URL: want memory:"},
		},
		{
			name:    "missing CA file",
			env:     env("ENTRAKIT_CA_FILE", "/nonexistent/ca.pem"),
			wantErr: []string{"ENTRAKIT_CA_FILE:"},
		},
		{
			name:    "secret is never echoed",
			env:     env("AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", client, "AZURE_CLIENT_SECRET", " leaked-secret "),
			wantErr: []string{"AZURE_CLIENT_SECRET: has leading or trailing white space"},
			check: func(t *testing.T, s Settings) {
				if s.Entra.Credential.ClientSecret != " leaked-secret " {
					t.Error("secret altered")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(tt.env)
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Load = nil error, want %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "leaked-secret") {
					t.Errorf("error echoes the secret: %v", err)
				}
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func TestLoadCAFile(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not pem"), 0o600)

	s, err := Load(env("ENTRAKIT_CA_FILE", good))
	if err != nil || s.RootCAs == nil {
		t.Fatalf("Load good CA: %v, pool %v", err, s.RootCAs)
	}
	if _, err := Load(env("ENTRAKIT_CA_FILE", junk)); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("Load junk CA: %v", err)
	}
}

// TestREADMEListsEveryVariable keeps the README's configuration table true.
func TestREADMEListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\|").FindAllStringSubmatch(string(readme), -1) {
		rows[m[1]] = true
	}
	for _, v := range Variables {
		if !rows[v.Name] {
			t.Errorf("README.md has no configuration row for %s", v.Name)
		}
	}
}

// A deployment that sets any production setting but lacks AZURE_CLIENT_ID
// (a typo, an unmounted secret) must fail to start, naming what is missing
// — never fall back to the dev tenant, which would write dev state into the
// configured database, Redis or store (issue 14, item 1).
func TestDevModeOnlyWithoutProductionSettings(t *testing.T) {
	for _, kv := range [][2]string{
		{"AZURE_TENANT_ID", tenant},
		{"AZURE_CLIENT_SECRET", "s"},
		{"AZURE_CLIENT_CERTIFICATE_PATH", "/c.pem"},
		{"AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/token"},
		{"AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"},
		{"ENTRAKIT_TOKEN_CACHE_KEYS", testKey},
		{"ENTRAKIT_TOKEN_CACHE_URL", "redis://cache:6379/0"},
		{"ENTRAKIT_REDIS_URL", "redis://cache:6379/0"},
		{"ENTRAKIT_DATABASE_URL", "postgres://sync@db.internal:5432/directory"},
		{"ENTRAKIT_MANAGED_IDENTITY", "system"},
		{"ENTRAKIT_TLS_CERT_FILE", "/tls/cert.pem"},
		{"IDENTITY_ENDPOINT", "http://localhost:8081/msi/token"},
	} {
		t.Run(kv[0], func(t *testing.T) {
			s, err := Load(env(kv[0], kv[1]))
			if s.DevTenant {
				t.Fatalf("%s is set, yet Load chose dev mode", kv[0])
			}
			if err == nil || !strings.Contains(err.Error(), "AZURE_CLIENT_ID: required") || !strings.Contains(err.Error(), kv[0]) {
				t.Fatalf("Load = %v, want an AZURE_CLIENT_ID error naming %s", err, kv[0])
			}
			if strings.Contains(err.Error(), kv[1]) && len(kv[1]) > 3 {
				t.Errorf("the error quotes the setting's value: %v", err)
			}
		})
	}
	t.Run("nothing set: dev mode, with its state apart", func(t *testing.T) {
		s, err := Load(env())
		if err != nil || !s.DevTenant {
			t.Fatalf("DevTenant=%v err=%v", s.DevTenant, err)
		}
		if s.DatabaseURL != "sqlite://.entrakit/devtenant/daemon.db" {
			t.Errorf("dev mode database %q: it must not be the production default", s.DatabaseURL)
		}
	})
	t.Run("production default database", func(t *testing.T) {
		s, _ := Load(env("AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", client, "ENTRAKIT_TOKEN_CACHE_KEYS", testKey))
		if s.DevTenant || s.DatabaseURL != "sqlite://.entrakit/daemon.db" {
			t.Errorf("DevTenant=%v DatabaseURL=%q", s.DevTenant, s.DatabaseURL)
		}
	})
	t.Run("settings a dev run uses too do not count", func(t *testing.T) {
		s, err := Load(env("ENTRAKIT_LISTEN", ":8081", "ENTRAKIT_DEV_TENANT_LISTEN", "127.0.0.1:0", "ENTRAKIT_DAEMON_CONFIG", "/jobs.json"))
		if err != nil || !s.DevTenant {
			t.Fatalf("DevTenant=%v err=%v", s.DevTenant, err)
		}
	})
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		want []string // substrings, one warning each; none: no warning
	}{
		{"local and verified", Settings{RedisURL: "redis://127.0.0.1:6379/0", TokenCacheURL: "redis://localhost:6379/1",
			DatabaseURL: "postgres://u@db.internal/x?sslmode=verify-full"}, nil},
		{"dev defaults", Settings{DatabaseURL: "sqlite://.entrakit/devtenant/daemon.db", TokenCacheURL: "memory:"}, nil},
		{"remote TLS redis", Settings{RedisURL: "rediss://cache.internal:6380/0"}, nil},
		{"plaintext remote redis", Settings{RedisURL: "redis://cache.internal:6379/0", TokenCacheURL: "redis://cache.internal:6379/0"},
			[]string{"ENTRAKIT_REDIS_URL: plaintext redis:// to cache.internal", "ENTRAKIT_TOKEN_CACHE_URL: plaintext"}},
		{"postgres sslmode disable", Settings{DatabaseURL: "postgres://u:pw@db.internal:5432/x?sslmode=disable"},
			[]string{"ENTRAKIT_DATABASE_URL: sslmode disable to db.internal"}},
		{"postgres sslmode unset", Settings{DatabaseURL: "postgresql://u@10.1.2.3/x"}, []string{"sslmode unset (prefer) to 10.1.2.3"}},
		{"postgres on a socket", Settings{DatabaseURL: "postgres:///x?host=/var/run/postgresql"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Warnings(tt.s)
			if len(got) != len(tt.want) {
				t.Fatalf("Warnings = %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %q does not contain %q", got[i], w)
				}
				if strings.Contains(got[i], "pw") {
					t.Errorf("warning quotes the password: %q", got[i])
				}
			}
		})
	}
}

// TestGraphURLKeepsTheCloudsResource: another URL for Graph (the dev
// tenant's emulator, a proxy) still asks for tokens for the cloud's Graph.
func TestGraphURLKeepsTheCloudsResource(t *testing.T) {
	for _, tc := range []struct{ cloud, want string }{
		{"", "https://graph.microsoft.com/.default"},
		{"usgov", "https://graph.microsoft.us/.default"},
	} {
		env := map[string]string{"AZURE_TENANT_ID": "6f1a3c2e-8d4b-4e7a-9c1f-2b5d8e0a4c7f", "AZURE_CLIENT_ID": "3f6c7b1a-9e2d-4c8f-a5b3-7d1e0f2c4a6b",
			"AZURE_CLIENT_SECRET": "s", "AZURE_AUTHORITY_HOST": "https://localhost:9443/", "ENTRAKIT_GRAPH_URL": "https://localhost:9444/", "ENTRAKIT_CLOUD": tc.cloud}
		cfg, err := EntraConfig(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Cloud.GraphScope(); got != tc.want || cfg.Cloud.GraphEndpoint != "https://localhost:9444" {
			t.Errorf("cloud %q: scope %q, endpoint %q", tc.cloud, got, cfg.Cloud.GraphEndpoint)
		}
	}
}
