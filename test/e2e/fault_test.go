//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/winctr/winctr/internal/task/options"
	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// TestVMAgentFrozen freezes a running VM (QMP stop), so that its agent
// answers nothing: a call fails with a clear deadline error after the
// pod's agent timeout instead of hanging, a KILL still holds (the shim
// stops the VM), and the task is removed with nothing left.
func TestVMAgentFrozen(t *testing.T) {
	harness.RequireBootFiles(t)
	ctx := context.Background()
	id := "vm-frozen"
	// Long enough for a container's creation in an emulated guest on a
	// busy machine, short enough for a test.
	const timeout = 20 * time.Second
	cleanupTask(t, id)
	before := cd.VMDirs()
	if r := cd.Ctr(ctx, "run", "-d", "--runtime", harness.Runtime, "--annotation", "io.winctr.isolation=hypervisor",
		"--annotation", fmt.Sprintf("%s=%d", options.AnnotationAgentTimeout, int(timeout/time.Second)), image.Name, id, "sleep", "1000"); r.Err != nil {
		t.Fatalf("run: %v %s", r.Err, r.Output())
	}
	waitRunning(t, id)
	var dir string
	for _, d := range cd.VMDirs() {
		if !slices.Contains(before, d) {
			dir = d
		}
	}
	if dir == "" {
		t.Fatal("no VM directory for the new pod")
	}
	mon, err := qmp.NewSocketMonitor("unix", filepath.Join(dir, "qmp.sock"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Connect(); err != nil {
		t.Fatal(err)
	}
	_, err = mon.Run([]byte(`{"execute":"stop"}`))
	mon.Disconnect()
	if err != nil {
		t.Fatalf("QMP stop: %v", err)
	}

	start := time.Now()
	r := cd.Ctr(ctx, "task", "exec", "--exec-id", "e1", id, "true")
	took := time.Since(start)
	t.Logf("exec on the frozen VM failed after %s: %s", took.Round(time.Millisecond), strings.TrimSpace(r.Output()))
	if r.Err == nil || !strings.Contains(r.Output(), "did not answer") || !strings.Contains(r.Output(), "deadline") {
		t.Fatalf("exec on a frozen VM: %v %s; want the agent's deadline error", r.Err, r.Output())
	}
	if took < timeout || took > timeout+30*time.Second {
		t.Errorf("exec failed after %s; want it bounded by the agent timeout (%s)", took, timeout)
	}

	start = time.Now()
	if r := cd.Ctr(ctx, "task", "kill", "-s", "9", id); r.Err != nil {
		t.Fatalf("kill on a frozen VM: %v %s", r.Err, r.Output())
	}
	waitStopped(t, id)
	if st := taskStatus(t, id); st != "STOPPED" {
		t.Fatalf("task %s after kill, want STOPPED", st)
	}
	t.Logf("kill -9 to a stopped task on the frozen VM: %s", time.Since(start).Round(time.Millisecond))
	removeTask(t, id)
	assertNoLeaks(t)
}
