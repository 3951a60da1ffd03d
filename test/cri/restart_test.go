//go:build e2e

package cri

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/test/harness"
)

// restartDowntime is how long containerd stays down: longer than the 15 s
// over which containerd's own shim publisher retries an event.
const restartDowntime = 20 * time.Second

// restartLines is how many numbered lines each counting container writes
// across the restart (harness.CounterScript).
const restartLines = 600

// TestContainerdRestartedUnderPods stops containerd under running pods of
// every handler for restartDowntime and starts it again, as an upgrade
// does: each pod's containers are reachable afterwards (status, exec),
// what a container wrote to stdout meanwhile is all in its CRI log, in
// order, and a container that exited while containerd was down shows its
// exit code.
func TestContainerdRestartedUnderPods(t *testing.T) {
	handlers := []string{harness.HandlerProcess, harness.HandlerProcessSandboxAPI}
	if harness.BootFilesMissing() == "" {
		handlers = append(handlers, harness.HandlerHypervisor, harness.HandlerHypervisorSandboxAPI)
	}
	type running struct {
		handler         string
		pod             *pod
		counter, exiter string
	}
	var pods []running
	script := harness.CounterScript(restartLines)
	for _, h := range handlers {
		p := runPod(t, h, "restart"+strings.ReplaceAll(h, "-", ""), nil)
		counter := p.container(t, "counter", 0, "sh", "-c", script)
		pods = append(pods, running{handler: h, pod: p, counter: counter})
	}
	for i := range pods {
		pods[i].exiter = pods[i].pod.container(t, "exiter", 0, "sh", "-c", "sleep 3; exit 7")
	}

	for _, r := range pods {
		lines, _ := counterLogNow(r.pod)
		t.Logf("%s: %d of %d lines in the counter's CRI log when containerd stopped", r.handler, lines, restartLines)
	}
	cd.Stop()
	time.Sleep(restartDowntime)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cd.Resume(ctx); err != nil {
		t.Fatalf("containerd did not come back: %v", err)
	}
	reconnect(t)

	for _, r := range pods {
		t.Run(r.handler, func(t *testing.T) {
			if s := status(t, r.counter); s.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
				t.Errorf("counter is %v after the restart, want running", s.State)
			}
			if e := exec(t, r.counter, "echo", "reachable"); string(e.Stdout) != "reachable\n" {
				t.Errorf("exec after the restart: %q %q %d", e.Stdout, e.Stderr, e.ExitCode)
			}
			var s *runtimeapi.ContainerStatus
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if s = status(t, r.exiter); s.State == runtimeapi.ContainerState_CONTAINER_EXITED {
					break
				}
			}
			t.Logf("exiter after the restart: %v, exit code %d (%s)", s.State, s.ExitCode, s.Reason)
			if s.State != runtimeapi.ContainerState_CONTAINER_EXITED || s.ExitCode != 7 {
				t.Errorf("exiter %v with exit code %d (%s), want exited with 7", s.State, s.ExitCode, s.Reason)
			}
			lines, lost := counterLog(t, r.pod, restartLines)
			t.Logf("counter's CRI log: %d of %d lines, %d lost or out of order", lines, restartLines, lost)
			if lost > 0 || lines != restartLines {
				t.Errorf("counter's CRI log has %d lines, %d of %d lost or out of order", lines, lost, restartLines)
			}
			r.pod.remove(t)
		})
	}
	// Once every pod is gone.
	cd.AssertNoLeaks(t)
}

// reconnect dials CRI again after a containerd restart (the old
// connection's reconnect backoff may be long) and waits until it serves.
func reconnect(t *testing.T) {
	t.Helper()
	c, err := cd.CRIConn()
	if err != nil {
		t.Fatalf("dial CRI after the restart: %v", err)
	}
	conn.Close()
	conn = c
	runtime = runtimeapi.NewRuntimeServiceClient(conn)
	images = runtimeapi.NewImageServiceClient(conn)
	// CRI answers Unavailable until it has recovered its pods.
	var err2 error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, err2 = runtime.ListContainers(rpcCtx(t), &runtimeapi.ListContainersRequest{}); err2 == nil {
			return
		}
	}
	t.Fatalf("CRI not ready a minute after containerd's restart: %v", err2)
}

// counterLog waits (up to 3 min: the counter is slow in an emulated
// guest) for the counter's CRI log to reach n lines and returns how many
// stdout lines it has and how many of 1..n are missing or out of place.
func counterLog(t *testing.T, p *pod, n int) (int, int) {
	t.Helper()
	var out []string
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		_, out = counterLogNow(p)
		if len(out) >= n || time.Now().After(deadline) {
			break
		}
	}
	return len(out), harness.CounterMissing(out, n)
}

// counterLogNow returns the stdout lines of the counter's CRI log now.
func counterLogNow(p *pod) (int, []string) {
	b, _ := os.ReadFile(filepath.Join(p.config.LogDirectory, "counter-0.log"))
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		// <time> stdout F <line>
		if f := strings.SplitN(l, " ", 4); len(f) == 4 && f[1] == "stdout" {
			out = append(out, f[3])
		}
	}
	return len(out), out
}

// TestSandboxKillAllSparesItsContainers: SIGKILL to all of the sandbox
// task's processes (ctr task kill --all on the pause container, as kubelet's
// sandbox recovery may), then a containerd restart: a container of the pod
// in a PID namespace of its own is still running, as with containerd's
// runc shim; the kill reaches the sandbox's processes alone.
func TestSandboxKillAllSparesItsContainers(t *testing.T) {
	handlers := []string{harness.HandlerProcess}
	if harness.BootFilesMissing() == "" {
		handlers = append(handlers, harness.HandlerHypervisor)
	}
	for _, h := range handlers {
		t.Run(h, func(t *testing.T) {
			p := runPod(t, h, "killall"+strings.ReplaceAll(h, "-", ""), nil)
			// Kubernetes' default without shareProcessNamespace; CRI's
			// zero value would share the sandbox's.
			c := p.containerWith(t, "app", 0, func(c *runtimeapi.ContainerConfig) {
				c.Linux.SecurityContext = &runtimeapi.LinuxContainerSecurityContext{
					NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER},
				}
			}, "sleep", "1000")
			if r := cd.Ctr(context.Background(), "task", "kill", "--all", "--signal", "SIGKILL", p.id); r.Err != nil {
				t.Fatalf("kill all of the sandbox: %v %s", r.Err, r.Output())
			}
			// The sandbox's exit reaches containerd before it stops.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if r := cd.Ctr(context.Background(), "task", "ls"); strings.Contains(r.Stdout, p.id) && strings.Contains(r.Stdout, "STOPPED") {
					break
				}
			}
			cd.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := cd.Resume(ctx); err != nil {
				t.Fatalf("containerd did not come back: %v", err)
			}
			reconnect(t)
			if s := status(t, c); s.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
				t.Fatalf("the pod's container is %v after its sandbox was killed, want running", s.State)
			}
			if e := exec(t, c, "echo", "alive"); string(e.Stdout) != "alive\n" {
				t.Fatalf("exec in the pod's container: %q %q", e.Stdout, e.Stderr)
			}
			p.remove(t)
			cd.AssertNoLeaks(t)
		})
	}
}
