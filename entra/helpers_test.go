package entra_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/entrakit/entrakit/entra/devtenant"
)

// acquireInteractive runs MSAL's real interactive flow, with the dev tenant's
// Browser in place of a person, and returns the access token.
func acquireInteractive(ctx context.Context, t testing.TB, tt *tenant, app public.Client, p devtenant.Persona, scopes []string) (string, error) {
	t.Helper()
	browser := tt.srv.NewBrowser(p.Username, p.Password)
	errc := make(chan error, 1)
	res, err := app.AcquireTokenInteractive(ctx, scopes, public.WithOpenURL(func(u string) error {
		go func() {
			resp, err := browser.Authorize(ctx, u)
			if err == nil {
				var r interface{ Close() error }
				hr, derr := resp.Deliver(ctx, tt.client)
				if derr == nil {
					r = hr.Body
					r.Close()
				}
				err = derr
			}
			errc <- err
		}()
		return nil
	}))
	if err != nil {
		return "", err
	}
	if err := <-errc; err != nil {
		return "", err
	}
	return res.AccessToken, nil
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
