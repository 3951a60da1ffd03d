//go:build linux

package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/winctr/winctr/test/image"
)

// CleanupTask removes, when the test ends, the task and container id
// whatever state they are in.
func (c *Containerd) CleanupTask(t testing.TB, id string) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		c.Ctr(ctx, "task", "kill", "-s", "9", id)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if r := c.Ctr(ctx, "task", "rm", "-f", id); r.Err == nil || strings.Contains(r.Output(), "not found") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.Ctr(ctx, "container", "rm", id)
	})
}

// TaskStatus returns the STATUS column of ctr task ls for id, or "" when
// there is no such task.
func (c *Containerd) TaskStatus(id string) string {
	r := c.Ctr(context.Background(), "task", "ls")
	for _, l := range strings.Split(r.Stdout, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

// waitStatus waits up to limit until done(status of id) holds.
func (c *Containerd) waitStatus(id string, limit time.Duration, done func(string) bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if done(c.TaskStatus(id)) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitRunning waits until task id is RUNNING; the test fails after 30 s.
func (c *Containerd) WaitRunning(t testing.TB, id string) {
	t.Helper()
	if !c.waitStatus(id, 30*time.Second, func(s string) bool { return s == "RUNNING" }) {
		t.Fatalf("task %s not running after 30s", id)
	}
}

// WaitStopped waits, at most 20 s, until task id is STOPPED.
func (c *Containerd) WaitStopped(t testing.TB, id string) {
	t.Helper()
	c.waitStatus(id, 20*time.Second, func(s string) bool { return s == "STOPPED" })
}

// WaitCleanedUp waits, at most 20 s, until containerd has cleaned up after
// a dead shim: task id is STOPPED or gone.
func (c *Containerd) WaitCleanedUp(t testing.TB, id string) {
	t.Helper()
	c.waitStatus(id, 20*time.Second, func(s string) bool { return s == "" || s == "STOPPED" })
}

// StartSleeper runs a detached container that sleeps, with runArgs (the
// runtime, annotations) on its ctr run line, and waits until it runs.
func (c *Containerd) StartSleeper(t testing.TB, id string, runArgs ...string) {
	t.Helper()
	args := append(append([]string{"run", "-d"}, runArgs...), image.Name, id, "sleep", "1000")
	if r := c.Ctr(context.Background(), args...); r.Err != nil {
		t.Fatalf("run -d %s: %v %s", id, r.Err, r.Output())
	}
	c.WaitRunning(t, id)
}

// RemoveTask removes a stopped task and its container; both must succeed.
func (c *Containerd) RemoveTask(t testing.TB, id string) {
	t.Helper()
	ctx := context.Background()
	if r := c.Ctr(ctx, "task", "rm", id); r.Err != nil {
		t.Fatalf("task rm %s: %v %s", id, r.Err, r.Output())
	}
	if r := c.Ctr(ctx, "container", "rm", id); r.Err != nil {
		t.Fatalf("container rm %s: %v %s", id, r.Err, r.Output())
	}
}

// AssertNoLeaks waits up to 10 s for shims to exit, then fails the test
// with whatever Leaks still finds.
func (c *Containerd) AssertNoLeaks(t testing.TB) {
	t.Helper()
	if leaks := c.WaitNoLeaks(10 * time.Second); len(leaks) > 0 {
		t.Fatalf("left behind: %v", leaks)
	}
}

// WaitNoLeaks polls Leaks for up to limit and returns what it last found.
func (c *Containerd) WaitNoLeaks(limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for {
		leaks := c.Leaks()
		if len(leaks) == 0 || time.Now().After(deadline) {
			return leaks
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Records lists the tasks and containers containerd still has in the
// harness's namespace.
func (c *Containerd) Records() []string {
	var out []string
	for _, kind := range []string{"task", "container"} {
		r := c.Ctr(context.Background(), kind, "ls", "-q")
		for _, id := range strings.Fields(r.Stdout) {
			out = append(out, kind+" "+id)
		}
	}
	return out
}

// ShimSet returns the pids of the shims alive now, to tell a new one by.
func (c *Containerd) ShimSet() map[int]bool {
	set := map[int]bool{}
	for _, pid := range c.Shims() {
		set[pid] = true
	}
	return set
}

// NewShim returns the one shim that is not in before; the test fails
// without one.
func (c *Containerd) NewShim(t testing.TB, before map[int]bool) int {
	t.Helper()
	for _, pid := range c.Shims() {
		if !before[pid] {
			return pid
		}
	}
	t.Fatal("no shim found for the container")
	return 0
}

// socketDirs are where containerd's shims put their sockets: the default
// under /run/containerd, or under this containerd's state when it says so.
func (c *Containerd) socketDirs() []string {
	return []string{"/run/containerd/s", filepath.Join(c.State, "s")}
}

// deadSockets lists shim sockets that appeared since this containerd
// started and that nothing listens on any more.
func (c *Containerd) deadSockets() []string {
	var out []string
	for _, dir := range c.socketDirs() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if c.preexisting[p] || e.Type()&os.ModeSocket == 0 {
				continue
			}
			conn, err := net.DialTimeout("unix", p, time.Second)
			if err == nil {
				conn.Close()
				continue
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				out = append(out, "dead shim socket "+p)
			}
		}
	}
	return out
}

// containerCgroups lists the cgroups left under the harness namespace's
// cgroup (containerd puts a ctr container at /<namespace>/<id>), in every
// hierarchy: a container's cgroup outliving it, or a process in one.
func (c *Containerd) containerCgroups() []string {
	if c.cri != nil {
		return nil // CRI's pods have their own parents; cri.leaks looks there.
	}
	var out []string
	roots, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", c.Namespace))
	if unified := filepath.Join("/sys/fs/cgroup", c.Namespace); dirExists(unified) {
		roots = append(roots, unified)
	}
	for _, root := range roots {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if e.IsDir() {
				out = append(out, "cgroup "+filepath.Join(root, e.Name()))
			}
		}
	}
	return out
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// CounterScript is a shell script that writes the numbers 1..n, one a
// line, pausing 0.3 s after every tenth (about 20 s for 600 on the host),
// and then sleeps: output that keeps coming while a test breaks things.
func CounterScript(n int) string {
	return fmt.Sprintf("i=0; while [ $i -lt %d ]; do i=$((i+1)); echo $i; if [ $((i %% 10)) -eq 0 ]; then sleep 0.3; fi; done; sleep 1000", n)
}

// CounterMissing returns how many of the lines 1..n that CounterScript(n)
// writes are missing from lines or out of place.
func CounterMissing(lines []string, n int) int {
	missing := 0
	for i := 1; i <= n; i++ {
		if i > len(lines) || lines[i-1] != strconv.Itoa(i) {
			missing++
		}
	}
	return missing
}
