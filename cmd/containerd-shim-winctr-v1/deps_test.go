package main

import (
	"os/exec"
	"strings"
	"testing"
)

// A lone shim's memory follows the size of its binary (see
// bench/guest-kernel-and-memory.md): these packages must stay out of it as
// make build builds it (SHIM_TAGS=grpcnotrace).
func TestShimLinksNoneOfTheHeavyPackages(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on the PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-tags", "grpcnotrace", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		deps[p] = true
	}
	for pkg, why := range map[string]string{
		"text/template":                                    "keeps every exported method of every type in the binary",
		"golang.org/x/net/trace":                           "gRPC's request pages; build with -tags grpcnotrace",
		"go.opentelemetry.io/otel/sdk/trace":               "tracing is built in only with the shim_tracing tag",
		"github.com/winctr/winctr/internal/lcow/bootfiles": "the boot files builder, with its compressors",
	} {
		if deps[pkg] {
			t.Errorf("the shim links %s: %s", pkg, why)
		}
	}
}
