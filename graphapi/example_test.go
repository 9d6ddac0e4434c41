package graphapi_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/infra"
)

// A daemon against the dev tenant: an app-only token from azidentity, the
// emulator's Graph host, and Graph's public identifier as the scope (the dev
// tenant's tokens are for https://graph.microsoft.com wherever it listens).
// Against a real tenant, only the credential changes and Options can stay
// zero (or name a national cloud's Graph).
func ExampleNew_devTenant() {
	srv, err := devtenant.New(devtenant.Options{Manifest: infra.AppRegistration()})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	hc := srv.Client() // trusts the dev tenant's CA
	defer srv.Close()
	defer hc.CloseIdleConnections() // before Close, which waits for them

	const daemon = "c4e6a8b0-2d4f-4a6c-8e0a-1b3c5d7e9f0a"
	cred, err := azidentity.NewClientSecretCredential(srv.TenantID(), daemon, srv.ClientSecret(daemon),
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions: policy.ClientOptions{
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.URL() + "/"},
				Transport: hc,
			},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		log.Fatal(err)
	}
	c, err := graphapi.New(cred, graphapi.Options{
		BaseURL:    srv.GraphURL(),
		Scopes:     []string{"https://graph.microsoft.com/.default"},
		HTTPClient: hc,
		UserAgent:  "entrakit-daemon/dev",
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := 0
	for u, err := range c.Users(ctx, graphapi.ListOptions{Filter: "startswith(displayName,'A')", Select: []string{"displayName"}}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(*u.GetDisplayName())
		if n++; n == 2 {
			break
		}
	}

	_, _, err = c.Photo(ctx, "00000000-0000-0000-0000-000000000001")
	fmt.Println(errors.Is(err, graphapi.ErrNotFound))
	// Output:
	// Adele Vance
	// Alex Wilber
	// true
}
