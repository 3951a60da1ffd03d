//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/winctr/winctr/internal/lcow/bootfiles"
	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// requireBootFiles skips VM tests where `make bootfiles` has not run.
func requireBootFiles(t *testing.T) {
	t.Helper()
	dir := os.Getenv("WINCTR_BOOTFILES")
	if dir == "" {
		dir = "/usr/local/share/winctr/lcow"
	}
	for _, f := range []string{bootfiles.KernelFile, bootfiles.InitrdFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Skipf("no boot files (make bootfiles): %v", err)
		}
	}
}

// TestVMRunsGuestKernel runs a container in a utility VM: it sees the
// guest's kernel, and its output and exit code come back.
func TestVMRunsGuestKernel(t *testing.T) {
	requireBootFiles(t)
	ctx := context.Background()
	release, err := bootfiles.NewestCloudKernel("/")
	if err != nil {
		t.Skip(err)
	}
	r := cd.Ctr(ctx, "run", "--rm", "--runtime", harness.Runtime, "--annotation", "io.winctr.isolation=hypervisor",
		image.Name, "vm-uname", "sh", "-c", "uname -r; exit 7")
	if r.Code != 7 {
		t.Fatalf("exit code %d (%v): %s", r.Code, r.Err, r.Output())
	}
	if strings.TrimSpace(r.Stdout) != release {
		t.Fatalf("container saw kernel %q, want the guest's %q", strings.TrimSpace(r.Stdout), release)
	}
}

// TestVMExecStdinKill drives one container in a VM through the calls the
// host-kernel tests use: stdin, exec with its own exit code, ps, pause and
// resume, kill -9, and removal leaving nothing.
func TestVMExecStdinKill(t *testing.T) {
	requireBootFiles(t)
	ctx := context.Background()
	vmArgs := []string{"--runtime", harness.Runtime, "--annotation", "io.winctr.isolation=hypervisor"}

	in := "through the VM\n"
	r := cd.CtrInput(ctx, in, append(append([]string{"run", "--rm"}, vmArgs...), image.Name, "vm-cat", "cat")...)
	if r.Err != nil || r.Stdout != in {
		t.Fatalf("stdin: %q (%v) %s", r.Stdout, r.Err, r.Stderr)
	}

	id := "vm-long"
	cleanupTask(t, id)
	if r := cd.Ctr(ctx, append(append([]string{"run", "-d"}, vmArgs...), image.Name, id, "sleep", "1000")...); r.Err != nil {
		t.Fatalf("run -d: %v %s", r.Err, r.Output())
	}
	waitRunning(t, id)
	r = cd.Ctr(ctx, "task", "exec", "--exec-id", "vx", id, "sh", "-c", "echo in-vm-exec; exit 5")
	if r.Code != 5 || r.Stdout != "in-vm-exec\n" {
		t.Fatalf("exec: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := cd.Ctr(ctx, "task", "ps", id); r.Err != nil || !strings.Contains(r.Stdout, "PID") {
		t.Fatalf("ps: %v %q", r.Err, r.Output())
	}
	if r := cd.Ctr(ctx, "task", "pause", id); r.Err != nil || taskStatus(t, id) != "PAUSED" {
		t.Fatalf("pause: %v %s -> %s", r.Err, r.Output(), taskStatus(t, id))
	}
	if r := cd.Ctr(ctx, "task", "resume", id); r.Err != nil || taskStatus(t, id) != "RUNNING" {
		t.Fatalf("resume: %v %s", r.Err, r.Output())
	}
	if r := cd.Ctr(ctx, "task", "kill", "-s", "9", id); r.Err != nil {
		t.Fatalf("kill: %v %s", r.Err, r.Output())
	}
	for i := 0; i < 200 && taskStatus(t, id) != "STOPPED"; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if r := cd.Ctr(ctx, "task", "rm", id); r.Err != nil {
		t.Fatalf("task rm: %v %s", r.Err, r.Output())
	}
	if r := cd.Ctr(ctx, "container", "rm", id); r.Err != nil {
		t.Fatalf("container rm: %v %s", r.Err, r.Output())
	}
	assertNoLeaks(t)
}
