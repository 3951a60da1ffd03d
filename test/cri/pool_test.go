//go:build e2e

package cri

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/winctr/winctr/test/harness"
)

// TestPooledVMPod runs a pod on a handler that keeps one booted VM
// waiting: the first pod boots its own VM and fills the pool, the second
// takes the waiting VM, whose spare NIC joins the pod's network: its guest
// holds the pod's IP (and MAC: the guest's routes find the NIC by it), and
// the first pod fetches a page from it, as does port-forward.
// containerd's exit then ends the pool, leaving nothing.
func TestPooledVMPod(t *testing.T) {
	harness.RequireBootFiles(t)
	for _, handler := range []string{harness.HandlerHypervisorPooled, harness.HandlerHypervisorSandboxAPIPooled} {
		t.Run(handler, func(t *testing.T) { checkPooledPod(t, handler) })
	}
}

func checkPooledPod(t *testing.T, handler string) {
	client := runPod(t, handler, "pool-client", nil)
	cli := client.container(t, "wget", 0, "sleep", "1000")

	waiting := cd.WaitPoolReady(t)
	start := time.Now()
	server := runPod(t, handler, "pool-server", nil)
	t.Logf("RunPodSandbox on a pooled VM: %v", time.Since(start).Round(time.Millisecond))
	// The pod's bundle: the task's, or the Sandbox API's sandbox's.
	if cwd := harness.Cwd(waiting.Pid); filepath.Base(cwd) != server.id || !strings.HasPrefix(cwd, cd.State+"/") {
		t.Fatalf("the pod's shim is not the pooled one: shim %d works in %q, not in pod %s's bundle", waiting.Pid, cwd, server.id)
	}
	fetchAcross(t, server, cli)
	// A pooled VM joins its pod's network late; port-forward reaches it too.
	if got := forwardedGet(t, server.id, 8080, "/hostname"); strings.TrimSpace(got) != server.config.Hostname {
		t.Fatalf("GET /hostname through port-forward: %q, want %q", got, server.config.Hostname)
	}
	client.remove(t)
	server.remove(t)
	cd.WaitPoolReady(t)
	if err := cd.EndPools(context.Background()); err != nil {
		t.Fatal(err)
	}
	reconnect(t)
	cd.AssertNoLeaks(t)
}
