//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
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
	waiting := cd.WaitPoolReady(t)
	warm := run("pool-warm", "warm")
	t.Logf("ctr run --rm echo in a VM: %v booting its own, %v taking a pooled one", cold.Round(time.Millisecond), warm.Round(time.Millisecond))
	if vmpool.Alive(waiting.Pid, waiting.ID) {
		t.Fatalf("pooled shim %d still runs after its pod ended", waiting.Pid)
	}

	// A long-lived container in a pooled VM: its shim is the pooled one,
	// now working in the task's bundle, and exec works through it.
	waiting = cd.WaitPoolReady(t)
	cd.CleanupTask(t, "pool-long")
	cd.StartSleeper(t, "pool-long", args...)
	bundle := filepath.Join(cd.State, "io.containerd.runtime.v2.task", cd.Namespace, "pool-long")
	if cwd := harness.Cwd(waiting.Pid); cwd != bundle {
		t.Fatalf("pooled shim %d works in %q, want the task's bundle %s", waiting.Pid, cwd, bundle)
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
	cd.WaitPoolReady(t)
	if err := cd.EndPools(context.Background()); err != nil {
		t.Fatal(err)
	}
	cd.AssertNoLeaks(t)
}
