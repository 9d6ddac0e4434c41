package tokencache_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/internal/testredis"
)

func TestOpenStore(t *testing.T) {
	srv := testredis.Start(t)
	dir := filepath.Join(t.TempDir(), "tc")
	ctx := context.Background()
	for _, tc := range []struct {
		url     string
		wantErr string
	}{
		{"", ""},
		{"memory:", ""},
		{"file://" + dir, ""},
		{srv.URL(), ""},
		{"file://host/dir", "file:///absolute/dir"},
		{"ftp://user:hunter2@example.com/x", "the scheme must be"},
		{"redis://:bad port/0", "store URL"},
		{"redis://localhost:6379/notadb", "redis URL"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			s, closeFn, err := tokencache.OpenStore(tc.url, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("OpenStore(%q) = %v, want error containing %q", tc.url, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closeFn()
			v, err := s.Put(ctx, "k", []byte("v"), 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got, gv, err := s.Get(ctx, "k"); err != nil || gv != v || string(got) != "v" {
				t.Fatalf("Get = %q %d %v", got, gv, err)
			}
		})
	}
}

func TestKeyRingFromConfig(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := tokencache.KeyRingFromConfig("", false, log); err == nil {
		t.Fatal("no keys outside dev mode: want an error")
	}
	r, err := tokencache.KeyRingFromConfig("", true, log)
	if err != nil || r == nil {
		t.Fatalf("dev mode: %v", err)
	}
	if !strings.Contains(logs.String(), "DEV MODE") {
		t.Errorf("dev key generated without a loud warning: %q", logs.String())
	}
	key := tokencache.GenerateKey()
	r1, err := tokencache.KeyRingFromConfig(key, false, log)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := tokencache.KeyRingFromConfig(" "+key+" ", false, log)
	if r1.PrimaryID() != r2.PrimaryID() {
		t.Error("the same key gave different ids")
	}
	if strings.Contains(logs.String(), key) {
		t.Error("a key was logged")
	}
}
