//go:build linux

package runchost

import (
	"os"
	"path/filepath"

	runc "github.com/containerd/go-runc"
)

// BundledPath is where `make install` (and the Debian package) puts the
// runc that `make deps` builds, relative to the directory of the shim's
// executable: a current runc with idmapped mounts and recursive read-only
// mounts, where a distribution's may be older.
const BundledPath = "../libexec/winctr/runc"

// DefaultBinary is the runc used when the runtime options name none: the
// bundled one beside the running executable where it is installed, else
// runc on PATH.
func DefaultBinary() string {
	exe, err := os.Executable()
	if err != nil {
		return runc.DefaultCommand
	}
	return bundledNextTo(exe)
}

// bundledNextTo is DefaultBinary for the executable at exe.
func bundledNextTo(exe string) string {
	p := filepath.Join(filepath.Dir(exe), BundledPath)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return p
	}
	return runc.DefaultCommand
}
