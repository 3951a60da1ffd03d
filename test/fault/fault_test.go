//go:build e2e

package fault

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// TestVMAgentFrozen freezes a running VM (QMP stop), so that its agent
// answers nothing: a call fails with a clear deadline error after the
// pod's agent timeout instead of hanging, a KILL still holds (the shim
// stops the VM), and the task is removed with nothing left.
func TestVMAgentFrozen(t *testing.T) {
	harness.RequireBootFiles(t)
	ctx := context.Background()
	id := "vm-frozen"
	// Long enough for a container's creation in an emulated guest on a
	// busy machine, short enough for a test.
	const timeout = 20 * time.Second
	cd.CleanupTask(t, id)
	before := cd.VMDirs()
	cd.StartSleeper(t, id, harness.VMOptions(fmt.Sprintf("[default_container_annotations]\n%q = \"%d\"\n",
		options.AnnotationAgentTimeout, int(timeout/time.Second)))...)
	var dir string
	for _, d := range cd.VMDirs() {
		if !slices.Contains(before, d) {
			dir = d
		}
	}
	if dir == "" {
		t.Fatal("no VM directory for the new pod")
	}
	mon, err := qmp.NewSocketMonitor("unix", filepath.Join(dir, "qmp.sock"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Connect(); err != nil {
		t.Fatal(err)
	}
	_, err = mon.Run([]byte(`{"execute":"stop"}`))
	mon.Disconnect()
	if err != nil {
		t.Fatalf("QMP stop: %v", err)
	}

	start := time.Now()
	r := cd.Ctr(ctx, "task", "exec", "--exec-id", "e1", id, "true")
	took := time.Since(start)
	t.Logf("exec on the frozen VM failed after %s: %s", took.Round(time.Millisecond), strings.TrimSpace(r.Output()))
	if r.Err == nil || !strings.Contains(r.Output(), "did not answer") || !strings.Contains(r.Output(), "deadline") {
		t.Fatalf("exec on a frozen VM: %v %s; want the agent's deadline error", r.Err, r.Output())
	}
	if took < timeout || took > timeout+30*time.Second {
		t.Errorf("exec failed after %s; want it bounded by the agent timeout (%s)", took, timeout)
	}

	start = time.Now()
	if r := cd.Ctr(ctx, "task", "kill", "-s", "9", id); r.Err != nil {
		t.Fatalf("kill on a frozen VM: %v %s", r.Err, r.Output())
	}
	cd.WaitStopped(t, id)
	if st := cd.TaskStatus(id); st != "STOPPED" {
		t.Fatalf("task %s after kill, want STOPPED", st)
	}
	t.Logf("kill -9 to a stopped task on the frozen VM: %s", time.Since(start).Round(time.Millisecond))
	cd.RemoveTask(t, id)
	cd.AssertNoLeaks(t)
}

// integrityData is what container i of TestOutputIntegrity writes: the
// numbers from 1 on, each line tagged with i, cut at exactly 1 MiB.
func integrityData(i int) string {
	var b strings.Builder
	for n := 1; b.Len() < 1<<20; n++ {
		fmt.Fprintf(&b, "%d:%d\n", i, n)
	}
	return b.String()[:1<<20]
}

// integrityExit is the exit code of container i of n: spread over 0..255,
// both ends included.
func integrityExit(i, n int) int { return i * 255 / (n - 1) }

// TestOutputIntegrity starts many containers at once that each write
// 1 MiB of known data and exit with their own code: every byte must
// arrive, in order, with no other container's, and every exit code must
// be exact. On the host kernel 100 containers run; in a VM, 10 share one
// pod's VM. Deaths by signal (128+n) are checked with exec'd processes
// that kill themselves (a container's init cannot get its own signals).
func TestOutputIntegrity(t *testing.T) {
	for _, mode := range []struct {
		name  string
		n     int
		extra []string
		vm    bool
	}{
		{"host", 100, nil, false},
		{"vm", 10, []string{"--runtime-config-path", harness.VMOptionsFile(""), "--annotation", "io.kubernetes.cri.sandbox-id=integrity-pod"}, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			if mode.vm {
				harness.RequireBootFiles(t)
			}
			ctx := context.Background()
			type result struct {
				r    harness.Result
				took time.Duration
			}
			results := make([]result, mode.n)
			var wg sync.WaitGroup
			start := time.Now()
			for i := range mode.n {
				id := fmt.Sprintf("integrity-%s-%d", mode.name, i)
				cd.CleanupTask(t, id)
				script := fmt.Sprintf("seq 1 300000 | sed 's/^/%d:/' | head -c 1048576; exit %d", i, integrityExit(i, mode.n))
				args := append(append([]string{"run", "--rm", "--runtime", harness.Runtime}, mode.extra...), image.Name, id, "sh", "-c", script)
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := time.Now()
					// Bytes and exit codes are the subject, not speed: 100
					// runs at once on 2 cores take about a minute, each.
					results[i] = result{cd.CtrWithin(ctx, 5*time.Minute, "", args...), time.Since(s)}
				}()
			}
			wg.Wait()
			lost, wrong := 0, 0
			for i, res := range results {
				want := integrityData(i)
				if res.r.Stdout != want {
					lost += max(0, len(want)-len(res.r.Stdout))
					t.Errorf("container %d: %d bytes of %d, in order: %v", i, len(res.r.Stdout), len(want), strings.HasPrefix(want, res.r.Stdout))
				}
				if res.r.Code != integrityExit(i, mode.n) {
					wrong++
					t.Errorf("container %d: exit %d, want %d (%v %s)", i, res.r.Code, integrityExit(i, mode.n), res.r.Err, res.r.Stderr)
				}
			}
			var slowest time.Duration
			for _, res := range results {
				slowest = max(slowest, res.took)
			}
			t.Logf("%d containers x 1 MiB in %s (slowest run %s): %d bytes lost, %d exit codes wrong",
				mode.n, time.Since(start).Round(time.Millisecond), slowest.Round(time.Millisecond), lost, wrong)
			cd.AssertNoLeaks(t)
		})
	}
}

// TestExitBySignal checks that a process killed by signal n exits 128+n,
// on the host kernel and in a VM, for each signal whose default action a
// shell keeps (it ignores QUIT).
func TestExitBySignal(t *testing.T) {
	for _, mode := range []struct {
		name  string
		extra []string
		vm    bool
	}{
		{"host", nil, false},
		{"vm", []string{"--runtime-config-path", harness.VMOptionsFile("")}, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			if mode.vm {
				harness.RequireBootFiles(t)
			}
			ctx := context.Background()
			id := "signals-" + mode.name
			cd.CleanupTask(t, id)
			cd.StartSleeper(t, id, append([]string{"--runtime", harness.Runtime}, mode.extra...)...)
			for _, sig := range []int{1, 2, 6, 9, 10, 12, 14, 15} {
				r := cd.Ctr(ctx, "task", "exec", "--exec-id", fmt.Sprintf("sig%d", sig), id, "sh", "-c", fmt.Sprintf("kill -%d $$", sig))
				if r.Code != 128+sig {
					t.Errorf("signal %d: exit %d, want %d (%s)", sig, r.Code, 128+sig, r.Output())
				}
			}
			cd.Ctr(ctx, "task", "kill", "-s", "9", id)
			cd.WaitStopped(t, id)
			cd.RemoveTask(t, id)
			cd.AssertNoLeaks(t)
		})
	}
}
