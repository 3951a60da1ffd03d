package lcow

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSubmountCheck: a bind's source with a mount below it is told from
// one without, through a symlink too, and a source it cannot resolve
// counts as having one; a source that is itself a mount point has none
// below it.
func TestSubmountCheck(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	withSub := filepath.Join(dir, "with-sub")
	for _, d := range []string{plain, filepath.Join(withSub, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("tmpfs", filepath.Join(withSub, "sub"), "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount here: %v", err)
	}
	defer unix.Unmount(filepath.Join(withSub, "sub"), unix.MNT_DETACH)
	if err := os.Symlink(withSub, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	check := submountCheck()
	for path, want := range map[string]bool{
		plain:                           false,
		withSub:                         true,
		filepath.Join(dir, "link"):      true,
		filepath.Join(withSub, "sub"):   false,
		filepath.Join(dir, "not-there"): true,
	} {
		if got := check(path); got != want {
			t.Errorf("%s: submounts %v, want %v", path, got, want)
		}
	}
}
