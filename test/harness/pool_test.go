//go:build linux

package harness

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/winctr/winctr/internal/vmpool"
)

// TestPoolEntriesOfOneContainerd: a run's leak check counts the pool
// entries of its own containerd only, never another run's on the host.
func TestPoolEntriesOfOneContainerd(t *testing.T) {
	root := t.TempDir()
	entry := func(pool, name, containerd string) string {
		dir := filepath.Join(root, pool, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if containerd != "" {
			if err := os.WriteFile(filepath.Join(dir, vmpool.ContainerdFile), []byte(containerd), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	mine := entry("aaaa", "pool-1", "/tmp/run1/containerd.sock")
	claimed := entry("bbbb", "claimed-pool-2", "unix:///tmp/run1/containerd.sock")
	entry("aaaa", "pool-3", "/tmp/run2/containerd.sock")
	entry("cccc", "pool-4", "") // being made, or of an older shim
	got := poolEntriesOf(root, "/tmp/run1/containerd.sock")
	if want := []string{mine, claimed}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
