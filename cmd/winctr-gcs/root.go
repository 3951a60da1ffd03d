//go:build linux

package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// switchRoot gives the agent a root that runc can pivot_root out of. The
// initramfs is the kernel's first mount, which has no parent mount, and
// pivot_root refuses such a root. A bind mount of the initramfs moved
// over it is a mount with a parent, holding the same files: nothing is
// copied, so a boot pays neither the time of copying the initrd's files
// nor the memory of a second copy.
func switchRoot() error {
	const newRoot = "/newroot"
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("/", newRoot, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind the initramfs: %w", err)
	}
	if err := os.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return os.Chdir("/")
}
