package devmode_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
)

func TestStart(t *testing.T) {
	dir := t.TempDir()
	srv, err := devmode.Start(devtenant.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.ClientSecret(infra.Apps().WebApp) == "" {
		t.Errorf("the dev tenant does not register infra's web app")
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*.pem")); len(matches) == 0 {
		t.Errorf("no CA kept in the state directory")
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = devmode.Start(devtenant.Options{Addr: busy.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) || !strings.Contains(err.Error(), "ENTRAKIT_DEV_TENANT_LISTEN") {
		t.Errorf("on a busy port: %v", err)
	}
}

func TestTokenCache(t *testing.T) {
	key := tokencache.GenerateKey()
	tests := []struct {
		name    string
		tc      devmode.TokenCache
		wantErr string // prefix
		wantLog string
	}{
		{"dev mode without keys", devmode.TokenCache{Dev: true}, "", "DEV MODE"},
		{"keys and a file store", devmode.TokenCache{Keys: key, StoreURL: "file://" + t.TempDir()}, "", ""},
		{"no keys outside dev mode", devmode.TokenCache{StoreURL: "memory:"}, "ENTRAKIT_TOKEN_CACHE_KEYS: ", ""},
		{"a bad store", devmode.TokenCache{Keys: key, StoreURL: "ftp://cache"}, "ENTRAKIT_TOKEN_CACHE_URL: ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			tt.tc.Logger = slog.New(slog.NewTextHandler(&log, nil))
			c, closeStore, err := tt.tc.Open()
			if strings.Contains(log.String(), key) {
				t.Errorf("the key is in the log")
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, log.String())
			}
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q...", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closeStore()
			if c.Store == nil || c.Keys == nil || c.Metrics == nil || c.Logger != tt.tc.Logger {
				t.Errorf("cache: store %v, keys %v, metrics %v, logger %v", c.Store != nil, c.Keys != nil, c.Metrics != nil, c.Logger == tt.tc.Logger)
			}
		})
	}
}

// TestStartPersonaPickerAndCAFile: the commands' dev tenant signs a persona
// in with one click, and CAFile names the CA it keeps in the state
// directory.
func TestStartPersonaPickerAndCAFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	dir, _ = os.Getwd()
	srv, err := devmode.Start(devtenant.Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	adele, _ := srv.Persona("AdeleV")
	b := srv.NewBrowser("", "")
	b.Persona = adele.OID
	q := url.Values{"client_id": {infra.Apps().WebApp}, "response_type": {"code"}, "scope": {"openid User.Read"},
		"redirect_uri": {"http://localhost:8080/auth/callback"}}
	resp, err := b.Authorize(t.Context(), srv.Authority()+"/oauth2/v2.0/authorize?"+q.Encode())
	if err != nil || resp.Params.Get("code") == "" {
		t.Errorf("one-click sign-in: %v %v", resp, err)
	}

	for _, tt := range []struct{ stateDir, want string }{
		{"", ""},
		{dir, filepath.Join(dir, "ca.pem")},
		{"state", filepath.Join(dir, "state", "ca.pem")}, // relative to the working directory
	} {
		got := devmode.CAFile(tt.stateDir)
		if got != tt.want {
			t.Errorf("CAFile(%q) = %q, want %q", tt.stateDir, got, tt.want)
		}
	}
	if pem, err := os.ReadFile(devmode.CAFile(dir)); err != nil || !bytes.Equal(pem, srv.CACertPEM()) {
		t.Errorf("CAFile holds %d bytes (%v), not the dev tenant's CA", len(pem), err)
	}
}
