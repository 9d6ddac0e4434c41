// Command entractl is entrakit's terminal client for Microsoft Entra ID:
// sign in from a terminal (authorization code + PKCE on a loopback redirect,
// or the device code flow), print tokens, decode and verify JWTs with each
// claim explained, call Microsoft Graph, and inspect its encrypted token
// cache. It runs against the dev tenant (`entractl devtenant`) or a real
// tenant, unchanged.
//
//	entractl devtenant &                     # the dev tenant, writes .devtenant/env
//	set -a; . .devtenant/env; set +a
//	entractl login --device-code             # or: entractl login (opens the browser)
//	entractl token --decode
//	entractl graph GET /me
//
// Exit codes: 0 done; 1 failed (Entra or Graph refused, network); 2 usage
// (bad flag, bad input, missing configuration); 3 sign-in needed (no
// account cached, or Entra wants the user); 4 the JWT did not verify.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := newCLI(os.Stdin, os.Stdout, os.Stderr, os.LookupEnv).run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
