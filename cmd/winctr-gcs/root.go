//go:build linux

package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// rootEnv marks the agent re-executed on its tmpfs root.
const rootEnv = "WINCTR_ROOT=tmpfs"

// switchRoot moves the initramfs's files onto a tmpfs and makes that the
// root, then runs /init again there. runc cannot pivot_root out of an
// initramfs, so containers need a real root under them. The files are
// removed from the initramfs as they are copied, to give the memory back.
func switchRoot() error {
	for _, e := range os.Environ() {
		if e == rootEnv {
			return nil
		}
	}
	const newRoot = "/newroot"
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", newRoot, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("tmpfs root: %w", err)
	}
	err := filepath.WalkDir("/", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "/" {
			return nil
		}
		if p == newRoot || p == "/proc" || p == "/sys" || p == "/dev" {
			return fs.SkipDir
		}
		dst := filepath.Join(newRoot, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case d.Type().IsRegular():
			if err := copyFile(p, dst, info.Mode().Perm()); err != nil {
				return err
			}
			return os.Remove(p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy initramfs: %w", err)
	}
	for _, d := range []string{"proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(newRoot, d), 0o755); err != nil {
			return err
		}
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
	if err := os.Chdir("/"); err != nil {
		return err
	}
	return unix.Exec("/init", os.Args, append(os.Environ(), rootEnv))
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
