//go:build linux

package runchost

import (
	"os"
	"path/filepath"
	"testing"

	runc "github.com/containerd/go-runc"
)

// TestBundledRunc: an installed shim takes the runc installed beside it
// (<prefix>/libexec/winctr/runc); without one, runc on PATH.
func TestBundledRunc(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode // of the bundled runc; 0: none
		want bool
	}{
		{"installed", 0o755, true},
		{"not installed", 0, false},
		{"not executable", 0o644, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := t.TempDir()
			exe := filepath.Join(prefix, "bin", "containerd-shim-winctr-v1")
			bundled := filepath.Join(prefix, "libexec", "winctr", "runc")
			if tc.mode != 0 {
				if err := os.MkdirAll(filepath.Dir(bundled), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(bundled, nil, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			got := bundledNextTo(exe)
			want := runc.DefaultCommand
			if tc.want {
				want = filepath.Join(prefix, "bin", BundledPath)
			}
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}
