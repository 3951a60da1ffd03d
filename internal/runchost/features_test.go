//go:build linux

package runchost

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFeatures reads an OCI runtime's features document, and says why
// when the runtime cannot give one.
func TestFeatures(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := script("good", `[ "$1" = features ] || exit 2
echo '{"ociVersionMin":"1.0.0","mountOptions":["ro","rro"],"linux":{"namespaces":["user","pid"]}}'`)
	old := script("old", `echo "unknown command $1" >&2; exit 1`)
	garbled := script("garbled", `echo not json`)

	f, err := Features(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.MountOptions, "rro") || f.Linux == nil || !slices.Contains(f.Linux.Namespaces, "user") {
		t.Fatalf("features %+v", f)
	}
	for _, tc := range []struct{ bin, want string }{
		{old, "unknown command features"},
		{garbled, "features"},
		{filepath.Join(dir, "missing"), "missing"},
	} {
		if _, err := Features(context.Background(), tc.bin); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.bin, err, tc.want)
		}
	}
}
