package lcow

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/shimdebug"
)

func TestDebugShellNeedsTheOption(t *testing.T) {
	h, _ := New(context.Background(), "default", &options.Config{})
	_, err := h.DebugShell(context.Background(), shimdebug.Request{Op: shimdebug.OpShell}, &shimdebug.Session{})
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "debug_shell = true") {
		t.Errorf("shell without debug_shell: %v", err)
	}
	h.cfg.VM.DebugShell = true
	if _, err := h.DebugShell(context.Background(), shimdebug.Request{Op: shimdebug.OpShell}, &shimdebug.Session{}); !errdefs.IsNotFound(err) {
		t.Errorf("shell without a VM: %v", err)
	}
	if _, err := h.AgentStacks(context.Background()); !errdefs.IsNotFound(err) {
		t.Errorf("stacks without a VM: %v", err)
	}
}

func TestStaticBinary(t *testing.T) {
	if _, err := staticBinary("/bin/true"); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("/bin/true: %v", err)
	}
	if _, err := staticBinary(filepath.Join(t.TempDir(), "none")); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "busybox-static") {
		t.Errorf("missing: %v", err)
	}
	if _, err := os.Stat("/bin/busybox"); err == nil {
		if p, err := staticBinary("/bin/busybox"); err != nil || p != "/bin/busybox" {
			t.Errorf("/bin/busybox: %q, %v", p, err)
		}
	}
}
