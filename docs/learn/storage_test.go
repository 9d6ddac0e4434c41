package learn_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/internal/signintest"
)

// Example_tokenStorage is topic 11: where tokens live between requests.
// entractl keeps MSAL's cache in entrakit's token cache: one partition per
// client, sealed with AES-256-GCM under a key kept apart from the store. A
// copy of the store reveals no token, a blob moved to another partition or
// opened with another key opens nothing, and the next process signs in
// silently from it.
func Example_tokenStorage() {
	d := dev()
	ctx := context.Background()
	store := tokencache.NewMemoryStore(tokencache.MemoryOptions{}) // entractl: a FileStore
	cache := &tokencache.Cache{Store: store, Keys: newKeyRing()}
	partition := "entractl-" + apps.CLI

	app := d.publicClient(public.WithCache(cache.Partition(partition)))
	res, err := signintest.Interactive(ctx, app, d.browser("AdeleV"), []string{"User.Read"})
	must(err)

	blob, _, err := store.Get(ctx, partition)
	must(err)
	fmt.Println("stored in clear: access token", bytes.Contains(blob, []byte(res.AccessToken)),
		"username", bytes.Contains(blob, []byte("AdeleV")), "JSON", bytes.Contains(blob, []byte(`"RefreshToken"`)))
	plain, _, err := cache.Keys.Open(partition, blob)
	fmt.Println("opens with the key:", err == nil, "holds the access token:", bytes.Contains(plain, []byte(res.AccessToken)),
		"and a refresh token:", bytes.Contains(plain, []byte(`"RefreshToken"`)))
	_, _, err = cache.Keys.Open("entractl-someone-else", blob)
	fmt.Println("opens in another partition:", err == nil)
	_, _, err = newKeyRing().Open(partition, blob)
	fmt.Println("opens with another key:", err == nil)

	// The next `entractl token`: a new process, a new MSAL client, same store.
	next := d.publicClient(public.WithCache(cache.Partition(partition)))
	accounts, err := next.Accounts(ctx)
	must(err)
	again, err := next.AcquireTokenSilent(ctx, []string{"User.Read"}, public.WithSilentAccount(accounts[0]))
	must(err)
	fmt.Println("next process:", len(accounts), "account,", source(again))
	// Output:
	// stored in clear: access token false username false JSON false
	// opens with the key: true holds the access token: true and a refresh token: true
	// opens in another partition: false
	// opens with another key: false
	// next process: 1 account, from the cache
}

// newKeyRing is a key ring with one new random key, as `entractl keys new`
// prints one.
func newKeyRing() *tokencache.KeyRing {
	keys, err := tokencache.ParseKeyRing(tokencache.GenerateKey())
	must(err)
	return keys
}
