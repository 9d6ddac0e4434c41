package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra"
)

// Exit codes (see the package comment).
const (
	exitOK         = 0
	exitFailed     = 1
	exitUsage      = 2
	exitSignIn     = 3
	exitUnverified = 4
)

// cli is one run of entractl: its streams, its environment, and what the
// tests replace (the browser, the HTTP client).
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
	// openURL opens the system browser (login); tests drive the dev
	// tenant's pages instead.
	openURL func(string) error
	// httpClient talks to Entra and Graph; nil: one trusting the system
	// roots plus ENTRAKIT_CA_FILE.
	httpClient *http.Client
	// onDeviceCode is told the device code's message (tests complete it).
	onDeviceCode func(verificationURL, userCode string)

	output string // "text" or "json"
}

func newCLI(stdin io.Reader, stdout, stderr io.Writer, lookup func(string) (string, bool)) *cli {
	return &cli{stdin: stdin, stdout: stdout, stderr: stderr, lookup: lookup, openURL: systemBrowser}
}

// command is one subcommand: its usage line, what it does, and how.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, c *cli, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"login", "[--device-code] [--scopes s1,s2]", "sign in from the terminal (browser with PKCE on a loopback redirect, or a device code); tokens go to the encrypted cache", runLogin},
		{"logout", "[--account user | --all]", "forget an account's tokens (or all)", runLogout},
		{"accounts", "", "list the signed-in accounts", runAccounts},
		{"token", "[--scopes s1,s2] [--account user] [--app] [--decode]", "print an access token: delegated from the cache, or --app with the app's own credential (client credentials, managed or workload identity)", runToken},
		{"jwt", "decode|verify [TOKEN|-] [--audience A] [--issuer URL]", "decode a JWT and explain its claims; verify it against its issuer's keys", runJWT},
		{"graph", "GET /path [--scopes s1,s2] [--app]", "call Microsoft Graph with a cached token and print the JSON answer", runGraph},
		{"cache", "ls|purge", "list what the encrypted token cache holds (never the secrets), or delete it", runCache},
		{"keys", "new", "print a new token cache encryption key (base64, 32 random bytes)", runKeys},
		{"devtenant", "[--listen addr] [--state-dir dir]", "start the dev tenant (a local Entra ID and Graph) and write .devtenant/env", runDevTenant},
	}
}

// usageError is a mistake in the command line or the input: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		c.usage(c.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, cmd := range commands {
		if cmd.name != args[0] {
			continue
		}
		err := cmd.run(ctx, c, args[1:])
		var ue *usageError
		var ee *exitError
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(c.stderr, "entractl %s: %s\nusage: entractl %s %s\n", cmd.name, ue.msg, cmd.name, cmd.args)
			return exitUsage
		case errors.As(err, &ee):
			fmt.Fprintf(c.stderr, "entractl %s: %v\n", cmd.name, ee.err)
			return ee.code
		default:
			fmt.Fprintf(c.stderr, "entractl %s: %v\n", cmd.name, err)
			return exitFailed
		}
	}
	fmt.Fprintf(c.stderr, "entractl: unknown command %q\n\n", args[0])
	c.usage(c.stderr)
	return exitUsage
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, "entractl: a terminal client for Microsoft Entra ID (and entrakit's dev tenant)\n\nusage: entractl <command> [flags]\n\n")
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, `
Every command takes -o json. "entractl <command> -h" shows its flags.

Configuration (environment; .devtenant/env sets them for the dev tenant):
  AZURE_AUTHORITY_HOST   https://login.microsoftonline.com/ by default
  AZURE_TENANT_ID        tenant id or domain; default organizations
  ENTRACTL_CLIENT_ID     the public client app registration login and token use
  ENTRACTL_CACHE_DIR     the encrypted token cache; default the user config dir/entractl
  ENTRACTL_CACHE_KEY     base64 key sealing the cache; default a key file in the cache dir
  ENTRAKIT_GRAPH_URL     Microsoft Graph; default https://graph.microsoft.com
  ENTRAKIT_CA_FILE       extra CA certificates to trust (the dev tenant's)
  AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE,
  ENTRAKIT_MANAGED_IDENTITY   the app's own credential, for token --app and graph --app

Exit codes: 0 done, 1 failed, 2 usage, 3 sign-in needed, 4 JWT not verified.
`)
}

// flags makes a subcommand's flag set with the flags every command has.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("entractl "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.output, "o", "text", "output `format`: text or json")
	return fs
}

// parseNone parses args into fs and refuses positional arguments.
func (c *cli) parseNone(fs *flag.FlagSet, args []string) error {
	pos, err := c.parse(fs, args)
	if err == nil && len(pos) > 0 {
		err = usagef("unexpected argument %q", pos[0])
	}
	return err
}

// parse parses args into fs, with flags allowed after positional arguments
// too (entractl jwt decode TOKEN -o json), and returns the positional ones.
func (c *cli) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if c.output != "text" && c.output != "json" {
		return nil, usagef("-o: want text or json, got %q", c.output)
	}
	return pos, nil
}

func (c *cli) env(name, def string) string {
	if v, ok := c.lookup(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// client is the HTTP client for Entra and Graph: the system roots plus
// ENTRAKIT_CA_FILE, 30 s per request.
func (c *cli) client() (*http.Client, error) {
	if c.httpClient != nil {
		return c.httpClient, nil
	}
	// No redirects: a token never follows one (Go keeps Authorization on a
	// same-host redirect, https to http included).
	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if path := c.env("ENTRAKIT_CA_FILE", ""); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, usagef("ENTRAKIT_CA_FILE: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("ENTRAKIT_CA_FILE: %s holds no PEM certificate", path)
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		hc.Transport = t
	}
	c.httpClient = hc
	return hc, nil
}

// cloud is the authority host and Graph endpoint from the environment.
func (c *cli) cloud() entra.Cloud {
	cl := entra.Cloud{Name: "public", AuthorityHost: "https://login.microsoftonline.com/", GraphEndpoint: "https://graph.microsoft.com"}
	if v := c.env("AZURE_AUTHORITY_HOST", ""); v != "" {
		cl.Name, cl.AuthorityHost = "custom", strings.TrimSuffix(v, "/")+"/"
	}
	if v := c.env("ENTRAKIT_GRAPH_URL", ""); v != "" {
		cl.GraphEndpoint = strings.TrimSuffix(v, "/")
	}
	return cl
}

func (c *cli) authority() string {
	return c.cloud().Authority(c.env("AZURE_TENANT_ID", "organizations"))
}

func (c *cli) cacheDir() (string, error) {
	if d := c.env("ENTRACTL_CACHE_DIR", ""); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", usagef("no user config directory (%v): set ENTRACTL_CACHE_DIR", err)
	}
	return filepath.Join(d, "entractl"), nil
}

// printJSON writes v indented.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// systemBrowser opens url in the desktop's browser.
func systemBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot open a browser (%v): use --device-code", err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
