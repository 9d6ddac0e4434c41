package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/tokencache"
)

// cachePartition is where entractl keeps a public client's MSAL cache: one
// sealed partition per client id, holding every account signed in with it.
func cachePartition(clientID string) string { return "entractl-" + strings.ToLower(clientID) }

// tokenCache opens the encrypted file cache in the cache directory, sealed
// with ENTRACTL_CACHE_KEY or the key file next to it (made, 0600, on
// first use when create is set).
func (c *cli) tokenCache(create bool) (*tokencache.Cache, error) {
	dir, err := c.cacheDir()
	if err != nil {
		return nil, err
	}
	keys, err := c.cacheKeys(dir, create)
	if err != nil {
		return nil, err
	}
	store, err := tokencache.NewFileStore(filepath.Join(dir, "tokens"))
	if err != nil {
		return nil, err
	}
	return &tokencache.Cache{Store: store, Keys: keys, Metrics: &tokencache.Metrics{}}, nil
}

// errNoCache: nothing was ever cached (no key file).
var errNoCache = errors.New("no token cache yet: run entractl login")

func (c *cli) cacheKeys(dir string, create bool) (*tokencache.KeyRing, error) {
	if v := c.env("ENTRACTL_CACHE_KEY", ""); v != "" {
		keys, err := tokencache.ParseKeyRing(v)
		if err != nil {
			return nil, usagef("ENTRACTL_CACHE_KEY: %v", err)
		}
		return keys, nil
	}
	path := filepath.Join(dir, "key")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && create:
		if b, err = createKeyFile(dir, path); err != nil {
			return nil, fmt.Errorf("cache key: %w", err)
		}
	case errors.Is(err, os.ErrNotExist):
		return nil, &exitError{exitSignIn, errNoCache}
	case err != nil:
		return nil, fmt.Errorf("cache key: %w", err)
	}
	keys, err := tokencache.ParseKeyRing(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("cache key %s: %w", path, err)
	}
	return keys, nil
}

// createKeyFile makes the key file whole or not at all: a new key written
// and synced in a temporary file, then linked to path. Two first runs at
// once both end up with the one that linked first.
func createKeyFile(dir, path string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	key := []byte(tokencache.GenerateKey() + "\n")
	_, werr := tmp.Write(key)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, werr
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return os.ReadFile(path) // another run made it first
	} else if err != nil {
		return nil, err
	}
	return key, nil
}

// publicClient is MSAL's public client for ENTRACTL_CLIENT_ID over the
// sealed cache.
func (c *cli) publicClient(create bool) (public.Client, error) {
	clientID := c.env("ENTRACTL_CLIENT_ID", "")
	if clientID == "" {
		return public.Client{}, usagef("ENTRACTL_CLIENT_ID is not set: the app registration entractl signs in with (a public client with the redirect URI http://localhost; .devtenant/env sets it for the dev tenant)")
	}
	hc, err := c.client()
	if err != nil {
		return public.Client{}, err
	}
	tc, err := c.tokenCache(create)
	if err != nil {
		return public.Client{}, err
	}
	return public.New(clientID,
		public.WithAuthority(c.authority()),
		public.WithHTTPClient(hc),
		public.WithCache(tc.Partition(cachePartition(clientID))),
		public.WithInstanceDiscovery(c.cloud().IsMicrosoftHost()))
}

// scopesFlag parses a comma- or space-separated scope list.
func scopesFlag(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
}

// accountJSON is an account as entractl prints it.
type accountJSON struct {
	Username      string    `json:"username"`
	HomeAccountID string    `json:"homeAccountId"`
	TenantID      string    `json:"tenantId,omitempty"`
	Scopes        []string  `json:"scopes,omitempty"`
	ExpiresOn     time.Time `json:"expiresOn,omitzero"`
}

func runLogin(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("login")
	device := fs.Bool("device-code", false, "sign in with a code on another device's browser (RFC 8628) instead of this machine's browser")
	scopes := fs.String("scopes", "User.Read", "comma-separated `scopes` to consent to and cache a token for")
	if err := c.parseNone(fs, args); err != nil {
		return err
	}
	pc, err := c.publicClient(true)
	if err != nil {
		return err
	}
	var res public.AuthResult
	if *device {
		dc, err := pc.AcquireTokenByDeviceCode(ctx, scopesFlag(*scopes))
		if err != nil {
			return signInFailed(err)
		}
		fmt.Fprintln(c.stderr, dc.Result.Message)
		if c.onDeviceCode != nil {
			c.onDeviceCode(dc.Result.VerificationURL, dc.Result.UserCode)
		}
		res, err = dc.AuthenticationResult(ctx)
		if err != nil {
			return signInFailed(err)
		}
	} else {
		fmt.Fprintln(c.stderr, "Opening the browser to sign in (no browser here? use --device-code)...")
		res, err = pc.AcquireTokenInteractive(ctx, scopesFlag(*scopes), public.WithOpenURL(c.openURL))
		if err != nil {
			return signInFailed(err)
		}
	}
	a := accountJSON{Username: res.Account.PreferredUsername, HomeAccountID: res.Account.HomeAccountID,
		TenantID: res.IDToken.TenantID, Scopes: res.GrantedScopes, ExpiresOn: res.ExpiresOn.UTC()}
	if c.output == "json" {
		return c.printJSON(a)
	}
	fmt.Fprintf(c.stdout, "Signed in as %s (tenant %s). Token for %s until %s, kept encrypted in the cache.\n",
		a.Username, a.TenantID, strings.Join(a.Scopes, " "), a.ExpiresOn.Local().Format(time.Kitchen))
	return nil
}

// signInFailed words an MSAL failure, with Entra's error when there is one.
func signInFailed(err error) error {
	var ae *entra.AADSTSError
	if errors.As(entra.FromMSAL(err), &ae) {
		if errors.Is(ae, entra.ErrUserCancelled) {
			return fmt.Errorf("sign-in declined or cancelled (AADSTS%d)", ae.Code)
		}
		desc := firstLine(ae.Description)
		if !strings.HasPrefix(desc, "AADSTS") {
			desc = fmt.Sprintf("AADSTS%d: %s", ae.Code, desc)
		}
		return fmt.Errorf("refused by Entra: %s: %s", ae.Err, desc)
	}
	return err
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// pickAccount is the cached account named by want (its username or home
// account id), or the only one.
func pickAccount(ctx context.Context, pc public.Client, want string) (public.Account, error) {
	accounts, err := pc.Accounts(ctx)
	if err != nil {
		return public.Account{}, err
	}
	var match []public.Account
	for _, a := range accounts {
		if want == "" || strings.EqualFold(a.PreferredUsername, want) || a.HomeAccountID == want {
			match = append(match, a)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(match) == 0 && want != "":
		return public.Account{}, &exitError{exitSignIn, fmt.Errorf("no cached account %q: run entractl login", want)}
	case len(match) == 0:
		return public.Account{}, &exitError{exitSignIn, errors.New("no account signed in: run entractl login")}
	}
	return public.Account{}, usagef("%d accounts are signed in: choose one with --account", len(match))
}

func runLogout(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("logout")
	account := fs.String("account", "", "the `user` (username or home account id) to forget")
	all := fs.Bool("all", false, "forget every account")
	if err := c.parseNone(fs, args); err != nil {
		return err
	}
	pc, err := c.publicClient(false)
	if err != nil {
		return err
	}
	var gone []public.Account
	if *all {
		gone, err = pc.Accounts(ctx)
	} else {
		var a public.Account
		a, err = pickAccount(ctx, pc, *account)
		gone = []public.Account{a}
	}
	if err != nil {
		return err
	}
	out := []accountJSON{}
	for _, a := range gone {
		if err := pc.RemoveAccount(ctx, a); err != nil {
			return err
		}
		out = append(out, accountJSON{Username: a.PreferredUsername, HomeAccountID: a.HomeAccountID})
		if c.output == "text" {
			fmt.Fprintf(c.stdout, "Signed out %s: its tokens are gone from the cache. (The browser's session at Entra stays: sign out there too on a shared machine.)\n", a.PreferredUsername)
		}
	}
	if c.output == "json" {
		return c.printJSON(out)
	}
	return nil
}

func runAccounts(ctx context.Context, c *cli, args []string) error {
	if err := c.parseNone(c.flags("accounts"), args); err != nil {
		return err
	}
	pc, err := c.publicClient(false)
	if err != nil {
		return err
	}
	accounts, err := pc.Accounts(ctx)
	if err != nil {
		return err
	}
	out := []accountJSON{}
	for _, a := range accounts {
		out = append(out, accountJSON{Username: a.PreferredUsername, HomeAccountID: a.HomeAccountID, TenantID: a.Realm})
	}
	if c.output == "json" {
		return c.printJSON(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(c.stdout, "No account signed in (entractl login).")
	}
	for _, a := range out {
		fmt.Fprintf(c.stdout, "%s\t%s\n", a.Username, a.HomeAccountID)
	}
	return nil
}
