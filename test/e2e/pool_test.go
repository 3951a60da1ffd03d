//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/winctr/winctr/internal/vmpool"
	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// TestVMPool runs VM containers from a runtime that keeps one booted VM
// waiting (vm_pool_size = 1): the first container boots its own VM and
// fills the pool; the next is served by the waiting VM's shim, runs and
// execs as any other; the pool fills again; and when containerd exits,
// the waiting shim stops its VM and leaves nothing.
func TestVMPool(t *testing.T) {
	harness.RequireBootFiles(t)
	ctx := context.Background()
	opts := filepath.Join(t.TempDir(), "pool.toml")
	if err := os.WriteFile(opts, []byte("isolation = \"hypervisor\"\nvm_pool_size = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--runtime", harness.Runtime, "--runtime-config-path", opts}
	run := func(id, word string) time.Duration {
		t.Helper()
		start := time.Now()
		r := cd.Ctr(ctx, append(append([]string{"run", "--rm"}, args...), image.Name, id, "echo", word)...)
		if r.Err != nil || r.Stdout != word+"\n" {
			t.Fatalf("run %s: %q (%v) %s", id, r.Stdout, r.Err, r.Stderr)
		}
		return time.Since(start)
	}

	cold := run("pool-cold", "cold")
	waiting := waitPoolReady(t)
	warm := run("pool-warm", "warm")
	t.Logf("ctr run --rm echo in a VM: %v booting its own, %v taking a pooled one", cold.Round(time.Millisecond), warm.Round(time.Millisecond))
	if vmpool.Alive(waiting.Pid, waiting.ID) {
		t.Fatalf("pooled shim %d still runs after its pod ended", waiting.Pid)
	}

	// A long-lived container in a pooled VM: its shim is the pooled one,
	// now working in the task's bundle, and exec works through it.
	waiting = waitPoolReady(t)
	cd.CleanupTask(t, "pool-long")
	cd.StartSleeper(t, "pool-long", args...)
	bundle := filepath.Join(cd.State, "io.containerd.runtime.v2.task", cd.Namespace, "pool-long")
	if cwd, err := os.Readlink("/proc/" + strconv.Itoa(waiting.Pid) + "/cwd"); err != nil || cwd != bundle {
		t.Fatalf("pooled shim %d works in %q (%v), want the task's bundle %s", waiting.Pid, cwd, err, bundle)
	}
	r := cd.Ctr(ctx, "task", "exec", "--exec-id", "px", "pool-long", "sh", "-c", "echo pooled; exit 4")
	if r.Code != 4 || r.Stdout != "pooled\n" {
		t.Fatalf("exec: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := cd.Ctr(ctx, "task", "kill", "-s", "KILL", "pool-long"); r.Err != nil {
		t.Fatalf("kill: %v %s", r.Err, r.Output())
	}
	cd.WaitStopped(t, "pool-long")
	cd.RemoveTask(t, "pool-long")

	// The pool is full again; containerd's exit ends it.
	waitPoolReady(t)
	cd.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for len(cd.Shims())+len(cd.VMProcesses()) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if err := cd.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	cd.AssertNoLeaks(t)
}

// waitPoolReady waits until the one entry of the test's pool has its VM
// booted, and returns it.
func waitPoolReady(t *testing.T) vmpool.Entry {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		dirs, _ := filepath.Glob(filepath.Join(vmpool.Root, "*", "pool-*", vmpool.ReadyFile))
		for _, ready := range dirs {
			dir := filepath.Dir(ready)
			b, err := os.ReadFile(filepath.Join(dir, vmpool.PidFile))
			if err != nil {
				continue
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			e := vmpool.Entry{ID: filepath.Base(dir), Dir: dir, Pid: pid, Ready: true}
			if pid > 0 && vmpool.Alive(pid, e.ID) && isOurs(pid) {
				return e
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("no pooled VM became ready within 3 minutes")
	return vmpool.Entry{}
}

// isOurs tells whether pid is a shim of this suite's containerd.
func isOurs(pid int) bool {
	for _, p := range cd.Shims() {
		if p == pid {
			return true
		}
	}
	return false
}
