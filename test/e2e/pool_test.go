//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/winctr/winctr/internal/vmpool"
	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// TestVMPool runs VM containers from a runtime that keeps one booted VM
// waiting (vm_pool_size = 1): the first container boots its own VM and
// fills the pool; the next is served by the waiting VM's shim, runs and
// execs as any other; the pool fills again. A waiting shim killed is
// cleaned up after by the next start; a waiting VM killed takes its shim
// and entry with it. When containerd exits, the waiting shim stops its VM
// and leaves nothing.
func TestVMPool(t *testing.T) {
	harness.RequireBootFiles(t)
	ctx := context.Background()
	opts := filepath.Join(t.TempDir(), "pool.toml")
	if err := os.WriteFile(opts, []byte("isolation = \"hypervisor\"\nvm_pool_size = 1\n"+harness.BootFilesOption()), 0o600); err != nil {
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

	// The entry of another pool's shim that died: a pooled start sweeps it.
	stale := filepath.Join(vmpool.Root, "0000stale0000000", "pool-000000000000")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(stale)) })
	if err := os.WriteFile(filepath.Join(stale, vmpool.PidFile), []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}

	cold := run("pool-cold", "cold")
	if exists(stale) {
		t.Fatal("a dead shim's entry in another pool was not swept")
	}
	waiting := cd.WaitPoolReady(t)
	warm := run("pool-warm", "warm")
	t.Logf("ctr run --rm echo in a VM: %v booting its own, %v taking a pooled one", cold.Round(time.Millisecond), warm.Round(time.Millisecond))
	if vmpool.Alive(waiting.Pid, waiting.ID) {
		t.Fatalf("pooled shim %d still runs after its pod ended", waiting.Pid)
	}

	// A long-lived container in a pooled VM: its shim is the pooled one,
	// now working in the task's bundle, and exec works through it.
	waiting = cd.WaitPoolReady(t)
	qemu := poolQEMU(t, waiting)
	if n := niceOf(t, qemu); n != 19 {
		t.Fatalf("the waiting VM's QEMU runs at nice %d, want 19 (behind running pods)", n)
	}
	cd.CleanupTask(t, "pool-long")
	cd.StartSleeper(t, "pool-long", args...)
	if n := niceOf(t, qemu); n != 0 {
		t.Fatalf("the pod's VM's QEMU runs at nice %d, want 0", n)
	}
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

	// A waiting shim killed: the next start cleans up after it (its VM
	// died with it) and boots a VM of its own.
	waiting = cd.WaitPoolReady(t)
	if err := syscall.Kill(waiting.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	run("pool-after-kill", "again")
	if _, err := os.Stat(waiting.Dir); !os.IsNotExist(err) {
		t.Fatalf("the killed shim's pool entry is still there (%v)", err)
	}

	// A waiting VM's QEMU killed: its shim stops and leaves with its entry.
	waiting = cd.WaitPoolReady(t)
	vmDir := poolVMDir(t, waiting)
	if err := syscall.Kill(poolQEMU(t, waiting), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); vmpool.Alive(waiting.Pid, waiting.ID) || exists(waiting.Dir) || exists(vmDir); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after its QEMU died, the waiting shim lives (%v) or left its entry or VM directory", vmpool.Alive(waiting.Pid, waiting.ID))
		}
	}

	// The next start fills the pool again; containerd's exit ends it.
	run("pool-refill", "refill")
	cd.WaitPoolReady(t)
	if err := cd.EndPools(context.Background()); err != nil {
		t.Fatal(err)
	}
	cd.AssertNoLeaks(t)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// poolVMDir is the VM directory a pool entry records.
func poolVMDir(t *testing.T, e vmpool.Entry) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.Dir, "winctr-lcow.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		VMDir string `json:"vm_dir"`
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.VMDir == "" {
		t.Fatalf("pool entry's VM record %q: %v", b, err)
	}
	return rec.VMDir
}

// poolQEMU is the QEMU process of a pool entry's VM.
func poolQEMU(t *testing.T, e vmpool.Entry) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(poolVMDir(t, e), "qemu.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// niceOf is the niceness of every thread of pid, which must agree.
func niceOf(t *testing.T, pid int) int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	nice := map[int]bool{}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		// After the command name in parentheses: state is the first
		// field, nice the seventeenth.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		n, _ := strconv.Atoi(fields[16])
		nice[n] = true
	}
	if len(nice) != 1 {
		t.Fatalf("threads of %d run at different nice values: %v", pid, nice)
	}
	for n := range nice {
		return n
	}
	return 0
}
