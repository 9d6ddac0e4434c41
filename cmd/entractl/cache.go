package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/internal/devtenantcli"
)

// cacheEntry is one thing the cache holds, as `cache ls` shows it: never a
// secret.
type cacheEntry struct {
	Kind      string    `json:"kind"` // account, access_token, refresh_token, id_token
	Account   string    `json:"account"`
	Tenant    string    `json:"tenant,omitempty"`
	Scopes    string    `json:"scopes,omitempty"`
	ExpiresOn time.Time `json:"expiresOn,omitzero"`
}

// msalCache is the part of MSAL's cache format `cache ls` reads.
type msalCache struct {
	Account map[string]struct {
		HomeAccountID string `json:"home_account_id"`
		Realm         string `json:"realm"`
		Username      string `json:"username"`
	} `json:"Account"`
	AccessToken  map[string]msalCred `json:"AccessToken"`
	RefreshToken map[string]msalCred `json:"RefreshToken"`
	IDToken      map[string]msalCred `json:"IdToken"`
}

type msalCred struct {
	HomeAccountID string `json:"home_account_id"`
	Realm         string `json:"realm"`
	Target        string `json:"target"`
	ExpiresOn     string `json:"expires_on"`
}

func runCache(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || (args[0] != "ls" && args[0] != "purge") {
		return usagef("want ls or purge")
	}
	if err := c.parseNone(c.flags("cache "+args[0]), args[1:]); err != nil {
		return err
	}
	clientID := c.env("ENTRACTL_CLIENT_ID", "")
	if clientID == "" {
		return usagef("ENTRACTL_CLIENT_ID is not set: the cache is kept per client id")
	}
	tc, err := c.tokenCache(false)
	if errors.Is(err, errNoCache) {
		if c.output == "json" {
			return c.printJSON([]cacheEntry{})
		}
		fmt.Fprintln(c.stdout, "The cache is empty (no sign-in yet).")
		return nil
	}
	if err != nil {
		return err
	}
	part := cachePartition(clientID)
	if args[0] == "purge" {
		if err := tc.Store.Delete(ctx, part); err != nil {
			return err
		}
		if c.output == "json" {
			return c.printJSON(map[string]bool{"purged": true})
		}
		fmt.Fprintln(c.stdout, "Deleted every cached token of this client. (The key file stays; delete the cache directory to drop it too.)")
		return nil
	}
	entries, err := cacheEntries(ctx, tc, part)
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(entries)
	}
	if len(entries) == 0 {
		fmt.Fprintln(c.stdout, "The cache is empty.")
	}
	for _, e := range entries {
		line := fmt.Sprintf("%-13s %s", e.Kind, e.Account)
		if e.Scopes != "" {
			line += "  scopes: " + e.Scopes
		}
		if !e.ExpiresOn.IsZero() {
			line += "  expires " + e.ExpiresOn.Format(time.RFC3339)
		}
		fmt.Fprintln(c.stdout, line)
	}
	return nil
}

// cacheEntries opens the partition and lists what it holds.
func cacheEntries(ctx context.Context, tc *tokencache.Cache, part string) ([]cacheEntry, error) {
	blob, _, err := tc.Store.Get(ctx, part)
	if errors.Is(err, tokencache.ErrNotFound) {
		return []cacheEntry{}, nil
	}
	if err != nil {
		return nil, err
	}
	plain, _, err := tc.Keys.Open(part, blob)
	if err != nil {
		return nil, fmt.Errorf("the cache does not open with this key (%v): was ENTRACTL_CACHE_KEY changed? entractl cache purge starts over", err)
	}
	var m msalCache
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, fmt.Errorf("the cache holds no MSAL cache: %v", err)
	}
	names := map[string]string{}
	out := []cacheEntry{}
	for _, k := range sortedKeys(m.Account) {
		a := m.Account[k]
		names[a.HomeAccountID] = a.Username
		out = append(out, cacheEntry{Kind: "account", Account: a.Username, Tenant: a.Realm})
	}
	add := func(kind string, creds map[string]msalCred) {
		for _, k := range sortedKeys(creds) {
			cr := creds[k]
			e := cacheEntry{Kind: kind, Account: names[cr.HomeAccountID], Tenant: cr.Realm, Scopes: cr.Target}
			if sec, err := strconv.ParseInt(cr.ExpiresOn, 10, 64); err == nil {
				e.ExpiresOn = time.Unix(sec, 0).UTC()
			}
			out = append(out, e)
		}
	}
	add("access_token", m.AccessToken)
	add("refresh_token", m.RefreshToken)
	add("id_token", m.IDToken)
	return out, nil
}

func runKeys(_ context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] != "new" {
		return usagef("want new")
	}
	if err := c.parseNone(c.flags("keys new"), args[1:]); err != nil {
		return err
	}
	key := tokencache.GenerateKey()
	if c.output == "json" {
		return c.printJSON(map[string]string{"key": key})
	}
	fmt.Fprintln(c.stdout, key)
	fmt.Fprintln(c.stderr, "A new key (32 random bytes, base64). Use it as ENTRACTL_CACHE_KEY, or as the first of ENTRAKIT_TOKEN_CACHE_KEYS=<new>,<old> to rotate the services' key.")
	return nil
}

func runDevTenant(ctx context.Context, c *cli, args []string) error {
	err := devtenantcli.Run(ctx, "entractl devtenant", args, c.stdout, c.stderr)
	if errors.Is(err, devtenantcli.ErrUsage) {
		return &usageError{err.Error()}
	}
	return err
}
