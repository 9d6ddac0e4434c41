// Command devtenant runs entrakit's local Entra ID emulator (entra/devtenant)
// on a loopback port with its own CA, and writes an env file that points
// MSAL, azidentity, curl, Node or entractl at it:
//
//	go run ./cmd/devtenant -env-file .devtenant/env
//	set -a; . .devtenant/env; set +a
//	curl "$AZURE_AUTHORITY_HOST$AZURE_TENANT_ID/v2.0/.well-known/openid-configuration"
//
// `entractl devtenant` is the same command.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/entrakit/entrakit/internal/devtenantcli"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devtenant:", err)
		os.Exit(1)
	}
}

// run serves until SIGINT or SIGTERM.
func run(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return devtenantcli.Run(ctx, "devtenant", args, stdout, stderr)
}
