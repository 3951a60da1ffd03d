package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/winctr/winctr/internal/version"
)

func TestVersionRequested(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"-v"}, true},
		{[]string{"--version"}, true},
		{[]string{"-namespace", "default", "-v"}, true},
		{[]string{"-namespace", "default", "start"}, false},
		{[]string{"--", "-v"}, false},
		{nil, false},
	} {
		if got := versionRequested(tc.args); got != tc.want {
			t.Errorf("versionRequested(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestPrintVersionIsWinctrs(t *testing.T) {
	old, oldRev := version.Version, version.Revision
	version.Version, version.Revision = "v9.9.9-test", "abc123"
	defer func() { version.Version, version.Revision = old, oldRev }()
	var b bytes.Buffer
	printVersion(&b, "/usr/local/bin/containerd-shim-winctr-v1")
	out := b.String()
	for _, want := range []string{"containerd-shim-winctr-v1:", "Version:        v9.9.9-test", "Revision:       abc123", "Go version:", "Agent protocol:", "Tracing:        " + tracingState()} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}
