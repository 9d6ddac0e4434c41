package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/internal/envconfig"
)

// tokenJSON is a token as `token -o json` prints it.
type tokenJSON struct {
	AccessToken string    `json:"accessToken"`
	ExpiresOn   time.Time `json:"expiresOn"`
	Scopes      []string  `json:"scopes"`
	Kind        string    `json:"kind"` // delegated or app
	Account     string    `json:"account,omitempty"`
}

// accessToken gets a token for scopes: delegated, from the cached account
// (refreshed silently when due), or with --app the app's own credential.
func (c *cli) accessToken(ctx context.Context, scopes []string, app bool, account string) (tokenJSON, error) {
	if app {
		return c.appToken(ctx, scopes)
	}
	if len(scopes) == 0 {
		scopes = []string{"User.Read"}
	}
	pc, err := c.publicClient(false)
	if err != nil {
		return tokenJSON{}, err
	}
	acc, err := pickAccount(ctx, pc, account)
	if err != nil {
		return tokenJSON{}, err
	}
	res, err := pc.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(acc))
	if err != nil {
		var ae *entra.AADSTSError
		if errors.As(entra.FromMSAL(err), &ae) && !errors.Is(ae, entra.ErrInteractionRequired) && !errors.Is(ae, entra.ErrConsentRequired) {
			return tokenJSON{}, signInFailed(err)
		}
		return tokenJSON{}, &exitError{exitSignIn, fmt.Errorf("no token for %s without signing in again (%v): run entractl login --scopes %s",
			strings.Join(scopes, ","), firstLine(signInFailed(err).Error()), strings.Join(scopes, ","))}
	}
	return tokenJSON{AccessToken: res.AccessToken, ExpiresOn: res.ExpiresOn.UTC(), Scopes: res.GrantedScopes, Kind: "delegated", Account: acc.PreferredUsername}, nil
}

// appToken is client credentials (secret, certificate), workload identity
// or managed identity, configured by the AZURE_* variables.
func (c *cli) appToken(ctx context.Context, scopes []string) (tokenJSON, error) {
	cfg, err := envconfig.EntraConfig(c.lookup)
	if err != nil {
		return tokenJSON{}, usagef("--app needs the app's identity: %v", err)
	}
	if cfg.Credential.Kind() == "none" {
		return tokenJSON{}, usagef("--app needs a credential: AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE or ENTRAKIT_MANAGED_IDENTITY")
	}
	if len(scopes) == 0 {
		scopes = []string{cfg.Cloud.GraphScope()}
	}
	for _, s := range scopes {
		if !strings.HasSuffix(s, "/.default") {
			return tokenJSON{}, usagef("--app: app-only tokens are for <resource>/.default (the permissions granted to the app), got %q", s)
		}
	}
	hc, err := c.client()
	if err != nil {
		return tokenJSON{}, err
	}
	cred, err := entra.NewAppTokenCredential(cfg, entra.AppTokenOptions{HTTPClient: hc})
	if err != nil {
		return tokenJSON{}, err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes})
	if err != nil {
		return tokenJSON{}, signInFailed(err)
	}
	return tokenJSON{AccessToken: tok.Token, ExpiresOn: tok.ExpiresOn.UTC(), Scopes: scopes, Kind: "app"}, nil
}

func runToken(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("token")
	scopes := fs.String("scopes", "", "comma-separated `scopes` (default User.Read; with --app the Graph .default)")
	account := fs.String("account", "", "the signed-in `user` to use when there are several")
	app := fs.Bool("app", false, "an app-only token with the app's own credential (AZURE_CLIENT_ID and a secret, certificate, federated token file or managed identity)")
	decode := fs.Bool("decode", false, "print the token's header and claims, explained, instead of the token")
	if err := c.parseNone(fs, args); err != nil {
		return err
	}
	tok, err := c.accessToken(ctx, scopesFlag(*scopes), *app, *account)
	if err != nil {
		return err
	}
	if *decode {
		return c.printDecoded(tok.AccessToken)
	}
	if c.output == "json" {
		return c.printJSON(tok)
	}
	fmt.Fprintln(c.stdout, tok.AccessToken)
	return nil
}

// maxGraphBody bounds what graph prints.
const maxGraphBody = 8 << 20

func runGraph(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("graph")
	scopes := fs.String("scopes", "", "comma-separated `scopes` (default User.Read; with --app the Graph .default)")
	account := fs.String("account", "", "the signed-in `user` to use when there are several")
	app := fs.Bool("app", false, "call with an app-only token (see token --app)")
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want a method and a path, e.g. entractl graph GET /me")
	}
	if !strings.EqualFold(pos[0], http.MethodGet) {
		return usagef("only GET: entractl reads Graph, it does not change it (got %s)", pos[0])
	}
	path := pos[1]
	if !strings.HasPrefix(path, "/") || strings.Contains(path, "://") {
		return usagef("the path must start with / (e.g. /me or /v1.0/users?$top=5), got %q", path)
	}
	if !strings.HasPrefix(path, "/v1.0/") && !strings.HasPrefix(path, "/beta/") {
		path = "/v1.0" + path
	}
	tok, err := c.accessToken(ctx, scopesFlag(*scopes), *app, *account)
	if err != nil {
		return err
	}
	hc, err := c.client()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cloud().GraphEndpoint+path, nil)
	if err != nil {
		return usagef("%v", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "entractl")
	if strings.Contains(path, "$search") || strings.Contains(path, "$count") {
		req.Header.Set("ConsistencyLevel", "eventual")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxGraphBody))
	if err != nil {
		return err
	}
	out := c.stdout
	if resp.StatusCode >= 300 {
		out = c.stderr
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		writeIndentedJSON(out, body)
	} else {
		fmt.Fprintf(out, "(%s, %d bytes)\n", resp.Header.Get("Content-Type"), len(body))
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("answered by Graph: %s", resp.Status)
	}
	return nil
}
