//go:build linux

package harness

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// SubmountedDir is a bind mount source with a tmpfs mounted at Sub (its
// "sub" directory): what a mount's read-only-ness and a container's hold
// on the host's mounts are seen through.
type SubmountedDir struct {
	Dir, Sub string
	t        testing.TB
	mounted  bool
}

// NewSubmountedDir makes one under the test's temporary directory; the
// tmpfs is detached at the test's end if Release did not unmount it.
func NewSubmountedDir(t testing.TB) *SubmountedDir {
	t.Helper()
	d := &SubmountedDir{Dir: t.TempDir(), t: t}
	d.Sub = filepath.Join(d.Dir, "sub")
	if err := os.Mkdir(d.Sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", d.Sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	d.mounted = true
	t.Cleanup(func() {
		if d.mounted {
			_ = unix.Unmount(d.Sub, unix.MNT_DETACH)
		}
	})
	return d
}

// Release unmounts the tmpfs and removes its mount point, as a user does
// once the container is gone; either fails the test while anything of
// the container still holds the host's mount.
func (d *SubmountedDir) Release() {
	d.t.Helper()
	if err := unix.Unmount(d.Sub, 0); err != nil {
		d.t.Fatalf("unmount the source's tmpfs after the container: %v", err)
	}
	d.mounted = false
	if err := os.Remove(d.Sub); err != nil {
		d.t.Fatalf("remove the source's submount point after the container: %v", err)
	}
}
