//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// cgroupFile reads a v1 controller file of the cgroup pid lives in.
func cgroupFile(t *testing.T, pid uint32, controller, file string) string {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(int(pid)) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", parts[2], file))
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(b))
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, parts[2], file))
				if err != nil {
					t.Fatal(err)
				}
				return strings.TrimSpace(string(b))
			}
		}
	}
	t.Fatalf("no %s cgroup for pid %d", controller, pid)
	return ""
}

// TestUpdateResources changes a running task's memory and CPU limits
// through containerd's Update call (ctr has no command for it).
func TestUpdateResources(t *testing.T) {
	ctx := context.Background()
	id := "update"
	cd.CleanupTask(t, id)
	cd.StartSleeper(t, id, "--runtime", harness.Runtime)
	client, err := containerd.New(cd.Socket, containerd.WithDefaultNamespace(harness.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := client.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	limit := int64(64 << 20)
	quota, period := int64(50000), uint64(100000)
	if err := task.Update(ctx, containerd.WithResources(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period},
	})); err != nil {
		t.Fatalf("update: %v", err)
	}
	if got := cgroupFile(t, task.Pid(), "memory", "memory.limit_in_bytes"); got != strconv.FormatInt(limit, 10) {
		t.Fatalf("memory limit %s, want %d", got, limit)
	}
	if got := cgroupFile(t, task.Pid(), "cpu", "cpu.cfs_quota_us"); got != "50000" {
		t.Fatalf("cpu quota %s, want 50000", got)
	}
	r := cd.Ctr(ctx, "task", "metrics", id)
	if !strings.Contains(r.Stdout, strconv.FormatInt(limit, 10)) {
		t.Fatalf("metrics do not show the new limit: %q", r.Stdout)
	}
}

// TestOOMEvent runs a container past its memory limit and expects
// /tasks/oom and a non-zero exit.
func TestOOMEvent(t *testing.T) {
	checkOOMEvent(t, "oom", "--runtime", harness.Runtime)
}

// checkOOMEvent runs a container with runArgs past a 16 MiB memory limit.
func checkOOMEvent(t *testing.T, id string, runArgs ...string) {
	t.Helper()
	ctx := context.Background()
	ev := cd.WatchEvents(t)
	cd.CleanupTask(t, id)
	args := append(append([]string{"run", "--rm"}, runArgs...), "--memory-limit", strconv.Itoa(16<<20), image.Name, id,
		"sh", "-c", `dd if=/dev/zero of=/dev/null bs=64M count=1 && echo survived`)
	r := cd.Ctr(ctx, args...)
	if r.Err == nil || strings.Contains(r.Stdout, "survived") {
		t.Fatalf("container survived its memory limit: %q %v", r.Stdout, r.Err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, topic := range ev.Topics(id) {
			if topic == "/tasks/oom" {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no /tasks/oom; saw %v", ev.Topics(id))
}
