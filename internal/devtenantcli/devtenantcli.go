// Package devtenantcli is the dev tenant as a command: cmd/devtenant and
// `entractl devtenant` run it. It starts the dev tenant on a loopback port
// with its own CA, writes an env file that points clients at it, prints
// the personas, and serves until its context ends.
package devtenantcli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/infra"
)

// ErrUsage is matched by the error of a command line Run cannot parse.
var ErrUsage = errors.New("bad command line")

// Run parses args (name is the command's name in usage messages), starts
// the dev tenant and serves until ctx ends.
func Run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9443", "listen `address`; port 0 picks a free port")
	stateDir := fs.String("state-dir", ".devtenant", "`directory` for the CA (kept across starts so a browser trusts it once), the personas file and the env file")
	envFile := fs.String("env-file", "", "write KEY=value lines pointing clients at the dev tenant to `file` (default STATE-DIR/env)")
	manifestPath := fs.String("manifest", "", "app-registration manifest `file` (default: the embedded infra/app-registration.json)")
	verbose := fs.Bool("v", false, "log every request")
	users := fs.Int("users", 0, "also generate `N` synthetic users (scale tests of Graph paging and delta)")
	picker := fs.Bool("persona-picker", true, "list the personas on the sign-in page, one click each, no password (-persona-picker=false: the username and password form only)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	manifest := infra.AppRegistration()
	if *manifestPath != "" {
		b, err := os.ReadFile(*manifestPath)
		if err != nil {
			return err
		}
		manifest = b
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv, err := devtenant.New(devtenant.Options{Manifest: manifest, Addr: *listen, StateDir: *stateDir, Logger: logger, PersonaPicker: *picker})
	if err != nil {
		return err
	}
	if err := srv.GenerateDirectory(*users); err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Close()

	if *envFile == "" {
		*envFile = filepath.Join(*stateDir, "env")
	}
	files, err := writeFiles(srv, *stateDir, *envFile)
	if err != nil {
		return err
	}
	printBanner(stdout, srv, files)

	<-ctx.Done()
	fmt.Fprintln(stdout, name+": shutting down")
	return nil
}

type writtenFiles struct{ ca, personas, env string }

// The web app is the client the env file configures.
const webAppUniqueName = "entrakit-webapp"

func webApp(srv *devtenant.Server) devtenant.Application {
	apps := srv.Applications()
	sort.Slice(apps, func(i, j int) bool { return apps[i].UniqueName < apps[j].UniqueName })
	for _, a := range apps {
		if a.UniqueName == webAppUniqueName {
			return a
		}
	}
	return apps[0]
}

func writeFiles(srv *devtenant.Server, stateDir, envFile string) (writtenFiles, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return writtenFiles{}, err
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	f := writtenFiles{ca: abs(filepath.Join(stateDir, "ca.pem")), personas: abs(filepath.Join(stateDir, "personas.json")), env: abs(envFile)}
	if err := os.WriteFile(f.ca, srv.CACertPEM(), 0o644); err != nil {
		return f, err
	}
	personas, _ := json.MarshalIndent(srv.Personas(), "", "  ")
	if err := os.WriteFile(f.personas, personas, 0o600); err != nil {
		return f, err
	}
	app := webApp(srv)
	lines := []string{
		"# written by the dev tenant (cmd/devtenant, entractl devtenant); secrets change on every start",
		"AZURE_AUTHORITY_HOST=" + srv.URL() + "/",
		"AZURE_TENANT_ID=" + srv.TenantID(),
		"AZURE_CLIENT_ID=" + app.AppID,
		"AZURE_CLIENT_SECRET=" + srv.ClientSecret(app.AppID),
		"# entractl's public client (login, token)",
		"ENTRACTL_CLIENT_ID=" + infra.Apps().CLI,
		"ENTRAKIT_GRAPH_URL=" + srv.GraphURL(),
		"ENTRAKIT_CA_FILE=" + f.ca,
		"SSL_CERT_FILE=" + f.ca,
		"NODE_EXTRA_CA_CERTS=" + f.ca,
		"ENTRAKIT_DEVTENANT_ADMIN_URL=" + srv.URL() + "/admin",
		"ENTRAKIT_DEVTENANT_ADMIN_KEY=" + srv.AdminKey(),
		"ENTRAKIT_DEVTENANT_PERSONAS=" + f.personas,
		"# the system-assigned managed identity, App Service style (azidentity.ManagedIdentityCredential)",
		"IDENTITY_ENDPOINT=" + srv.ManagedIdentity().Endpoint,
		"IDENTITY_HEADER=" + srv.ManagedIdentity().Header,
	}
	if err := os.MkdirAll(filepath.Dir(f.env), 0o700); err != nil {
		return f, err
	}
	return f, os.WriteFile(f.env, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

func printBanner(w io.Writer, srv *devtenant.Server, f writtenFiles) {
	fmt.Fprintf(w, `entrakit dev tenant — a local Entra ID emulator, for development only

  authority   %s
  graph       %s/v1.0
  issuer      %s
  domain      %s
  admin API   %s/admin  (Authorization: Bearer $ENTRAKIT_DEVTENANT_ADMIN_KEY)

Trust its CA (%s):
  export SSL_CERT_FILE=%[6]s NODE_EXTRA_CA_CERTS=%[6]s ENTRAKIT_CA_FILE=%[6]s
  or load everything:  set -a; . %s; set +a

Personas (passwords change on every start; also in %s):
`, srv.Authority(), srv.GraphURL(), srv.Issuer(), srv.Domain(), srv.URL(), f.ca, f.env, f.personas)
	_ = srv.WritePersonas(w, "  ")
}
