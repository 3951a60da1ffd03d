// Package version holds winctr's version and revision, set at build time
// by `make build` (-ldflags -X), and the guest agent protocol's version
// that the shim and the boot files it boots must agree on.
package version

import "runtime"

// Version is `git describe` of the tree the binary was built from;
// Revision its commit. Both are set by the Makefile's -ldflags.
var (
	Version  = "unknown"
	Revision = ""
)

// GoVersion is the Go release the binary was built with.
var GoVersion = runtime.Version()

// Package is the import path of this package, for -ldflags -X.
const Package = "github.com/winctr/winctr/internal/version"
