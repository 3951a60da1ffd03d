package harness

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/winctr/winctr/internal/vmpool"
)

// WaitPoolReady waits until a warm pool entry whose shim serves this
// containerd has its VM booted, and returns it.
func (c *Containerd) WaitPoolReady(t testing.TB) vmpool.Entry {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		ours := map[int]bool{}
		for _, pid := range c.Shims() {
			ours[pid] = true
		}
		ready, _ := filepath.Glob(filepath.Join(vmpool.Root, "*", "pool-*", vmpool.ReadyFile))
		for _, f := range ready {
			dir := filepath.Dir(f)
			b, err := os.ReadFile(filepath.Join(dir, vmpool.PidFile))
			if err != nil {
				continue
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if ours[pid] && vmpool.Alive(pid, filepath.Base(dir)) {
				return vmpool.Entry{ID: filepath.Base(dir), Dir: dir, Pid: pid, Ready: true}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("no pooled VM became ready within 3 minutes")
	return vmpool.Entry{}
}

// StopPool ends this containerd's warm pools the way they end: containerd
// exits, and each waiting shim stops its VM and leaves. It waits for that
// (30 s at most), then starts containerd again.
func (c *Containerd) StopPool(t testing.TB) {
	t.Helper()
	c.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for len(c.Shims())+len(c.VMProcesses()) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Resume(ctx); err != nil {
		t.Fatalf("containerd did not come back: %v", err)
	}
}

// Cwd is the working directory of process pid.
func Cwd(pid int) string {
	d, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "cwd"))
	return d
}
