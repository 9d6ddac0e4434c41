package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A kept signing key is the same key, with the same kid, on the next start;
// an expiring one is replaced; a damaged file is an error, never replaced
// in silence.
func TestSigningKeyFile(t *testing.T) {
	now := time.Now()
	path := filepath.Join(t.TempDir(), "state", "signing-key.pem")

	first, err := loadOrCreateSigningKey(path, now)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := loadOrCreateSigningKey(path, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if again.kid != first.kid || !again.key.Equal(first.key) {
		t.Errorf("second start: kid %s, want the kept key %s", again.kid, first.kid)
	}
	if fresh, _ := loadOrCreateSigningKey("", now); fresh.kid == first.kid {
		t.Errorf("no file: the kept key was used")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("state dir holds %d files, want the key file alone (no temporary left)", len(entries))
	}

	// Its certificate has 5 years; within a day of the end, a new key.
	later := now.Add(5*365*24*time.Hour - time.Hour)
	renewed, err := loadOrCreateSigningKey(path, later)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.kid == first.kid {
		t.Errorf("an expiring kept key was kept")
	}
	if k, err := loadOrCreateSigningKey(path, later); err != nil || k.kid != renewed.kid {
		t.Errorf("the renewed key was not kept: %v", err)
	}

	for name, content := range map[string]string{
		"not PEM":     "hello",
		"no key":      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
		"bad DER":     "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"truncated":   string(mustRead(t, path)[:300]),
		"mixed pairs": mixedPair(t, now),
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "signing-key.pem")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadOrCreateSigningKey(p, now)
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("damaged key file: %v, want an error naming it", err)
			}
			if got := string(mustRead(t, p)); got != content {
				t.Errorf("the damaged file was rewritten")
			}
		})
	}
}

// Two first starts at once: both sign with the key that reached the file.
func TestSigningKeyFileFirstStartsAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing-key.pem")
	now := time.Now()
	kids := make(chan string, 4)
	for range cap(kids) {
		go func() {
			k, err := loadOrCreateSigningKey(path, now)
			if err != nil {
				t.Error(err)
				kids <- ""
				return
			}
			kids <- k.kid
		}()
	}
	want := ""
	for range cap(kids) {
		kid := <-kids
		if want == "" {
			want = kid
		}
		if kid != want {
			t.Errorf("starts sign with %s and %s", want, kid)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mixedPair is one key's certificate with another's private key.
func mixedPair(t *testing.T, now time.Time) string {
	t.Helper()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pem"), filepath.Join(dir, "b.pem")
	for _, p := range []string{a, b} {
		if _, err := loadOrCreateSigningKey(p, now); err != nil {
			t.Fatal(err)
		}
	}
	certA, _, _ := strings.Cut(string(mustRead(t, a)), "-----BEGIN PRIVATE KEY-----")
	_, keyB, _ := strings.Cut(string(mustRead(t, b)), "-----BEGIN PRIVATE KEY-----")
	return certA + "-----BEGIN PRIVATE KEY-----" + keyB
}
