//go:build e2e

package cri

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/test/harness"
)

// TestExecSyncWithBackgroundChild: an ExecSync whose command leaves a
// child running in the background returns with its output and exit code
// within its timeout, as with the runc shim: the exit is not held until a
// pipe the surviving child keeps open ends.
func TestExecSyncWithBackgroundChild(t *testing.T) {
	p := runPod(t, harness.HandlerProcess, "bgexec", nil)
	c := p.container(t, "app", 0, "sleep", "1000")
	start := time.Now()
	r, err := runtime.ExecSync(rpcCtx(t), &runtimeapi.ExecSyncRequest{ContainerId: c, Timeout: 5,
		Cmd: []string{"sh", "-c", "sleep 365d & echo started; exit 3"}})
	if err != nil {
		t.Fatalf("ExecSync after %s: %v", time.Since(start), err)
	}
	if r.ExitCode != 3 || strings.TrimSpace(string(r.Stdout)) != "started" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.ExitCode, r.Stdout, r.Stderr)
	}
	t.Logf("ExecSync returned after %s", time.Since(start))
	p.remove(t)
	cd.AssertNoLeaks(t)
}

// TestFailedStartLeaksNoPipes: a container whose command does not exist
// fails StartContainer with the reason, and the pod's shim holds no more
// pipes afterwards than before it.
func TestFailedStartLeaksNoPipes(t *testing.T) {
	for _, h := range []string{harness.HandlerProcess, harness.HandlerProcessSandboxAPI} {
		t.Run(h, func(t *testing.T) { failedStart(t, h) })
	}
}

func failedStart(t *testing.T, handler string) {
	p := runPod(t, handler, "badcmd-"+handler, nil)
	shim := podShim(t, p)
	before := pipeCount(t, shim)
	ctx := rpcCtx(t)
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "nope"},
		Image:    &runtimeapi.ImageSpec{Image: busybox},
		Command:  []string{"/no/such/command"},
		LogPath:  "nope.log",
		Linux:    &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{}},
	}
	resp, err := runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, Config: cfg, SandboxConfig: p.config})
	if err != nil {
		t.Fatal(err)
	}
	_, err = runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId})
	if err == nil || !strings.Contains(err.Error(), "/no/such/command") {
		t.Fatalf("StartContainer of a missing command: %v", err)
	}
	// CRI deletes the task of a failed start itself; the container
	// record stays until RemoveContainer.
	if after := pipeCount(t, shim); after > before {
		t.Fatalf("the shim holds %d pipes after the failed start, %d before", after, before)
	}
	if _, err := runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: resp.ContainerId}); err != nil {
		t.Fatal(err)
	}
	if after := pipeCount(t, shim); after > before {
		t.Fatalf("the shim holds %d pipes after the failed container's removal, %d before", after, before)
	}
	p.remove(t)
	cd.AssertNoLeaks(t)
}

// podShim is the pid of the shim that serves the pod.
func podShim(t *testing.T, p *pod) int {
	t.Helper()
	for _, pid := range cd.Shims() {
		if strings.Contains(harness.Cwd(pid), p.id) {
			return pid
		}
	}
	t.Fatalf("no shim serves pod %s (shims %v)", p.id, cd.Shims())
	return 0
}

// pipeCount counts the pipes a process holds open.
func pipeCount(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, "pipe:") {
			n++
		}
	}
	return n
}
