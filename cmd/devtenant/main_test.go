package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunWritesEnvFile starts the binary's run on a free port and checks that
// the env file it writes points a client at a working dev tenant.
func TestRunWritesEnvFile(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "out.env")
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"-listen", "127.0.0.1:0", "-state-dir", dir, "-env-file", env}, &stdout, &stderr)
	}()
	vars := waitForEnv(t, env)
	for _, k := range []string{"AZURE_AUTHORITY_HOST", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "ENTRAKIT_GRAPH_URL",
		"ENTRAKIT_CA_FILE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "ENTRAKIT_DEVTENANT_ADMIN_URL",
		"ENTRAKIT_DEVTENANT_ADMIN_KEY", "ENTRAKIT_DEVTENANT_PERSONAS"} {
		if vars[k] == "" {
			t.Errorf("env file lacks %s", k)
		}
	}
	if fi, err := os.Stat(env); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("env file mode = %v, %v; want 0600", fi.Mode(), err)
	}

	caPEM, err := os.ReadFile(vars["SSL_CERT_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file is not PEM")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(vars["AZURE_AUTHORITY_HOST"] + vars["AZURE_TENANT_ID"] + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Issuer string }
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if want := vars["AZURE_AUTHORITY_HOST"] + vars["AZURE_TENANT_ID"] + "/v2.0"; doc.Issuer != want {
		t.Errorf("issuer = %q, want %q", doc.Issuer, want)
	}

	var personas []struct{ Username, Password, OID string }
	b, _ := os.ReadFile(vars["ENTRAKIT_DEVTENANT_PERSONAS"])
	if err := json.Unmarshal(b, &personas); err != nil || len(personas) < 5 || personas[0].Password == "" {
		t.Errorf("personas file: %v, %d entries", err, len(personas))
	}

	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop on SIGINT")
	}
	if !strings.Contains(stdout.String(), "Personas") || !strings.Contains(stdout.String(), "SSL_CERT_FILE") {
		t.Errorf("banner does not say how to trust the CA or whom to sign in as:\n%s", stdout.String())
	}

	// A second start with the same state dir keeps the CA (a browser trusts it once).
	env2 := filepath.Join(dir, "second.env")
	go func() {
		done <- run([]string{"-listen", "127.0.0.1:0", "-state-dir", dir, "-env-file", env2}, io.Discard, io.Discard)
	}()
	vars2 := waitForEnv(t, env2)
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	<-done
	b2, _ := os.ReadFile(vars2["SSL_CERT_FILE"])
	if !bytes.Equal(b2, caPEM) {
		t.Error("the CA changed across starts with the same -state-dir")
	}
	if vars2["AZURE_CLIENT_SECRET"] == vars["AZURE_CLIENT_SECRET"] {
		t.Error("the client secret did not change across starts")
	}
}

func waitForEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if f, err := os.Open(path); err == nil {
			vars := map[string]string{}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
					vars[k] = v
				}
			}
			f.Close()
			if vars["ENTRAKIT_DEVTENANT_PERSONAS"] != "" {
				return vars
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("env file not written")
	return nil
}

// TestPersonaPickerFlag: the sign-in page lists the personas by default (a
// developer's tool), and not with -persona-picker=false.
func TestPersonaPickerFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"-persona-picker=false"}, false},
	} {
		t.Run(strings.Join(append([]string{"args"}, tt.args...), " "), func(t *testing.T) {
			dir := t.TempDir()
			env := filepath.Join(dir, "env")
			done := make(chan error, 1)
			go func() {
				done <- run(append([]string{"-listen", "127.0.0.1:0", "-state-dir", dir}, tt.args...), io.Discard, io.Discard)
			}()
			vars := waitForEnv(t, env)
			caPEM, _ := os.ReadFile(vars["ENTRAKIT_CA_FILE"])
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(caPEM)
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			q := url.Values{"client_id": {vars["AZURE_CLIENT_ID"]}, "response_type": {"code"}, "scope": {"openid User.Read"},
				"redirect_uri": {"http://localhost:8080/auth/callback"}}
			resp, err := client.Get(vars["AZURE_AUTHORITY_HOST"] + vars["AZURE_TENANT_ID"] + "/oauth2/v2.0/authorize?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			syscall.Kill(os.Getpid(), syscall.SIGINT)
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
			page := string(body)
			if got := strings.Contains(page, `<form id="personas"`); got != tt.want || !strings.Contains(page, `<form id="login"`) {
				t.Errorf("picker shown: %v, want %v; login form: %v", got, tt.want, strings.Contains(page, `<form id="login"`))
			}
		})
	}
}
