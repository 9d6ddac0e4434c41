package entra_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/internal/signintest"
)

// interactive signs alias in through MSAL's real interactive flow as the
// public client clientID (the CLI app), with the dev tenant's Browser in
// place of a person, and returns MSAL's result (access and ID tokens).
func (tt *tenant) interactive(t testing.TB, clientID, alias string, scopes []string) public.AuthResult {
	t.Helper()
	cfg := tt.cfg
	cfg.ClientID, cfg.Credential, cfg.RedirectURI = clientID, entra.Credential{}, ""
	app, err := entra.NewPublicClient(cfg, entra.ClientOptions{HTTPClient: tt.client})
	if err != nil {
		t.Fatal(err)
	}
	res, err := signintest.Interactive(context.Background(), app, tt.browser(t, alias), scopes)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func kidOf(t testing.TB, jwt string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(jwt[:strings.IndexByte(jwt, '.')])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	json.Unmarshal(h, &hdr)
	return hdr.Kid
}
