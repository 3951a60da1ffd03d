//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/winctr/winctr/internal/lcow/bootfiles"
	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// requireBootFiles skips VM tests where `make bootfiles` has not run.
func requireBootFiles(t *testing.T) {
	t.Helper()
	dir := os.Getenv("WINCTR_BOOTFILES")
	if dir == "" {
		dir = "/usr/local/share/winctr/lcow"
	}
	for _, f := range []string{bootfiles.KernelFile, bootfiles.InitrdFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Skipf("no boot files (make bootfiles): %v", err)
		}
	}
}

// TestVMRunsGuestKernel runs a container in a utility VM: it sees the
// guest's kernel, and its output and exit code come back.
func TestVMRunsGuestKernel(t *testing.T) {
	requireBootFiles(t)
	ctx := context.Background()
	release, err := bootfiles.NewestCloudKernel("/")
	if err != nil {
		t.Skip(err)
	}
	r := cd.Ctr(ctx, "run", "--rm", "--runtime", harness.Runtime, "--annotation", "io.winctr.isolation=hypervisor",
		image.Name, "vm-uname", "sh", "-c", "uname -r; exit 7")
	if r.Code != 7 {
		t.Fatalf("exit code %d (%v): %s", r.Code, r.Err, r.Output())
	}
	if strings.TrimSpace(r.Stdout) != release {
		t.Fatalf("container saw kernel %q, want the guest's %q", strings.TrimSpace(r.Stdout), release)
	}
}
