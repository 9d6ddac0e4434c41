package testpg

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindBinDir(t *testing.T) {
	root := t.TempDir()
	for _, major := range []string{"9.6", "10", "15", "16", "not-a-version"} {
		bin := filepath.Join(root, major, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"initdb", "postgres"} {
			if major == "16" && name == "postgres" {
				continue // incomplete: skipped
			}
			if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := findBinDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "15", "bin"); got != want {
		t.Errorf("findBinDir = %s, want %s", got, want)
	}
}

func TestFindBinDirNone(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if dir, err := findBinDir(t.TempDir()); err == nil {
		t.Errorf("findBinDir = %s, want an error", dir)
	}
}
