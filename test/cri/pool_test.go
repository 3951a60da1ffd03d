//go:build e2e

package cri

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/test/harness"
)

// TestPooledVMPod runs a pod on a handler that keeps one booted VM
// waiting: the first pod boots its own VM and fills the pool, the second
// takes the waiting VM, whose spare NIC joins the pod's network: its guest
// holds the pod's IP (and MAC: the guest's routes find the NIC by it), and
// the first pod fetches a page from it.
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
	srv := server.container(t, "httpd", 0, "sh", "-c", "mkdir /www; hostname > /www/hostname; exec httpd -f -p 8080 -h /www")
	ip := podIP(t, server.id)
	if r := exec(t, srv, "ip", "-o", "addr"); !strings.Contains(string(r.Stdout), " "+ip+"/") {
		t.Fatalf("the pooled guest does not hold the pod IP %s:\n%s", ip, r.Stdout)
	}
	var (
		r   *runtimeapi.ExecSyncResponse
		err error
	)
	for i := 0; i < 5; i++ {
		r, err = runtime.ExecSync(rpcCtx(t), &runtimeapi.ExecSyncRequest{ContainerId: cli, Timeout: 10,
			Cmd: []string{"wget", "-q", "-O", "-", "http://" + ip + ":8080/hostname"}})
		if err == nil && r.ExitCode == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil || r.ExitCode != 0 || strings.TrimSpace(string(r.Stdout)) != "pool-server" {
		t.Fatalf("client pod fetching from the pooled pod at %s: %v %v", ip, r, err)
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
