package lcow

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/winctr/winctr/internal/bundlestate"
)

// TestCleanupSandboxState: the state a Sandbox API pod keeps in its bundle
// (no rootfs) takes the VM's directory when the share is empty, and a pod
// cgroup already gone is no error.
func TestCleanupSandboxState(t *testing.T) {
	tests := []struct {
		name       string
		shareEntry bool
		wantVMDir  bool
	}{
		{"last of the pod", false, false},
		{"containers still in the share", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle, vmDir := t.TempDir(), filepath.Join(t.TempDir(), "vm-1")
			if err := os.MkdirAll(filepath.Join(vmDir, "share"), 0o700); err != nil {
				t.Fatal(err)
			}
			if tt.shareEntry {
				if err := os.Mkdir(filepath.Join(vmDir, "share", "c1"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if err := bundlestate.Write(bundle, stateFile, state{VMDir: vmDir, PodCgroup: "/winctr-test-absent/pod"}); err != nil {
				t.Fatal(err)
			}
			vm, err := Cleanup(context.Background(), bundle)
			if !vm || err != nil {
				t.Fatalf("Cleanup = %v, %v", vm, err)
			}
			if _, err := os.Stat(vmDir); (err == nil) != tt.wantVMDir {
				t.Fatalf("VM dir exists: %v, want %v", err == nil, tt.wantVMDir)
			}
			if _, err := os.Stat(filepath.Join(bundle, stateFile)); !os.IsNotExist(err) {
				t.Fatal("state file left in the bundle")
			}
		})
	}
}
