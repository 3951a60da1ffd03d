//go:build linux

package runchost

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/winctr/winctr/internal/bundlestate"
)

// TestCleanupCallsRuncOnlyForItsState checks the delete bootstrap's runc
// call: a container runc still holds state for is force-deleted, one whose
// shim deleted it is not, and the bundle's record goes either way.
func TestCleanupCallsRuncOnlyForItsState(t *testing.T) {
	tests := []struct {
		name      string
		runcState bool
		wantCall  string
	}{
		{name: "runc holds the container", runcState: true, wantCall: "delete --force c1"},
		{name: "the shim deleted it already", runcState: false, wantCall: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			calls := filepath.Join(dir, "calls")
			fake := filepath.Join(dir, "fake-runc")
			script := "#!/bin/sh\nshift 2\necho \"$@\" >> " + calls + "\n"
			if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(dir, "runc-root")
			if tt.runcState {
				if err := os.MkdirAll(filepath.Join(root, "c1"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			bundle := filepath.Join(dir, "bundle")
			if err := os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := bundlestate.Write(bundle, stateFile, state{Namespace: "ns", RuncBinary: fake, RuncRoot: root}); err != nil {
				t.Fatal(err)
			}

			if _, err := Cleanup(context.Background(), bundle, "ns", "c1"); err != nil {
				t.Fatalf("Cleanup: %v", err)
			}
			b, err := os.ReadFile(calls)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(b)); got != tt.wantCall {
				t.Errorf("runc was called with %q, want %q", got, tt.wantCall)
			}
			if found, _ := bundlestate.Read(bundle, stateFile, &state{}); found {
				t.Errorf("the bundle still holds %s", stateFile)
			}
		})
	}
}
