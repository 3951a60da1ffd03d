package main

import (
	"fmt"
	"io"
	"path/filepath"

	ctrversion "github.com/containerd/containerd/v2/version"

	"github.com/winctr/winctr/internal/version"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// versionRequested tells whether the command line asks for the version
// (-v or -version, with one dash or two, before any "--"). The shim
// answers it before containerd's shim package sees the flags: that
// package prints its own module's version, which is containerd's.
func versionRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-v", "--v", "-version", "--version":
			return true
		}
	}
	return false
}

// printVersion writes winctr's version, revision and Go version, the
// agent protocol it speaks, the containerd shim library it is built on
// and whether tracing is built in.
func printVersion(w io.Writer, self string) {
	fmt.Fprintf(w, "%s:\n", filepath.Base(self))
	fmt.Fprintf(w, "  Version:        %s\n", version.Version)
	fmt.Fprintf(w, "  Revision:       %s\n", version.Revision)
	fmt.Fprintf(w, "  Go version:     %s\n", version.GoVersion)
	fmt.Fprintf(w, "  Agent protocol: %d\n", agent.ProtocolVersion)
	fmt.Fprintf(w, "  containerd:     %s (shim library)\n", ctrversion.Version)
	fmt.Fprintf(w, "  Tracing:        %s\n", tracingState())
}

// tracingState says whether OpenTelemetry tracing is built in.
func tracingState() string {
	if tracingBuiltIn {
		return "built in (shim_tracing): spans exported where OTEL_EXPORTER_OTLP_ENDPOINT is set"
	}
	return "not built in (build with the shim_tracing tag)"
}
