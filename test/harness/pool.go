//go:build linux

package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/winctr/winctr/internal/vmpool"
)

// ReadyPoolEntry finds a warm pool entry whose shim serves this containerd
// and has its VM booted.
func (c *Containerd) ReadyPoolEntry() (vmpool.Entry, bool) {
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
			return vmpool.Entry{ID: filepath.Base(dir), Dir: dir, Pid: pid, Ready: true}, true
		}
	}
	return vmpool.Entry{}, false
}

// AwaitPoolEntry waits for ReadyPoolEntry until ctx ends.
func (c *Containerd) AwaitPoolEntry(ctx context.Context) (vmpool.Entry, error) {
	for {
		if e, ok := c.ReadyPoolEntry(); ok {
			return e, nil
		}
		select {
		case <-ctx.Done():
			return vmpool.Entry{}, fmt.Errorf("no pooled VM became ready: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitPoolReady is AwaitPoolEntry for a test, within 3 minutes.
func (c *Containerd) WaitPoolReady(t testing.TB) vmpool.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, err := c.AwaitPoolEntry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// EndPools ends this containerd's warm pools the way they end: containerd
// exits, and each waiting shim stops its VM and leaves. It waits for that
// (30 s at most), then starts containerd again.
func (c *Containerd) EndPools(ctx context.Context) error {
	c.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for len(c.Shims())+len(c.VMProcesses()) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := c.Resume(ctx); err != nil {
		return fmt.Errorf("containerd did not come back: %w", err)
	}
	return nil
}

// Cwd is the working directory of process pid.
func Cwd(pid int) string {
	d, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "cwd"))
	return d
}
