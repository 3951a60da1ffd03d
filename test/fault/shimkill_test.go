//go:build e2e

package fault

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/winctr/winctr/internal/faultpoint"
	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// A kill point is where in a container's life a trial kills its shim: a
// fault point the shim stops at (internal/faultpoint), or, with point
// empty, a moment the test sees from outside.
type killPoint struct {
	point string
	vm    bool
	// outside, for points without a fault point: "running" kills the shim
	// of a running container; "qemu" kills it as soon as QEMU is there,
	// while the guest boots.
	outside string
}

func (k killPoint) name() string {
	mode := "host"
	if k.vm {
		mode = "vm"
	}
	if k.point == "" {
		return mode + "/" + k.outside
	}
	return mode + "/" + k.point
}

// killPoints spread over a shim's life: create, boot, run, exec, delete,
// shutdown; on the host kernel and in a utility VM.
var killPoints = []killPoint{
	{point: "create"},
	{point: "runc-rootfs-mounted"},
	{point: "runc-created"},
	{point: "created"},
	{point: "start"},
	{outside: "running"},
	{point: "exec"},
	{point: "start-exec"},
	{point: "delete"},
	{point: "runc-deleted"},
	{point: "shutdown"},
	{point: "vm-state-dir", vm: true},
	{outside: "qemu", vm: true},
	{point: "vm-started", vm: true},
	{point: "vm-ready", vm: true},
	{point: "vm-rootfs-attached", vm: true},
	{point: "start", vm: true},
	{outside: "running", vm: true},
	{point: "exec", vm: true},
	{point: "delete", vm: true},
	{point: "vm-guest-deleted", vm: true},
	{point: "delete-container", vm: true},
}

// TestShimKilled kills -9 the shim at each kill point of a container's
// life (run, exec, kill, delete): containerd's recovery (the delete
// bootstrap) must end the container and leave nothing once the user has
// removed the task and container records, every time.
func TestShimKilled(t *testing.T) {
	var leaked int
	for _, k := range killPoints {
		t.Run(k.name(), func(t *testing.T) {
			if k.vm {
				harness.RequireBootFiles(t)
			}
			took, leaks := shimKillTrial(t, k)
			leaked += len(leaks)
			t.Logf("shim killed at %s: task cleaned up %s after the kill, %d leaks", k.name(), took.Round(time.Millisecond), len(leaks))
			if len(leaks) > 0 {
				t.Errorf("left behind: %v", leaks)
			}
		})
	}
	t.Logf("%d kill points, %d leaks", len(killPoints), leaked)
}

// lifecycle is a container's life through ctr, one step at a time.
func lifecycle(id string, k killPoint) [][]string {
	run := []string{"run", "-d"}
	if k.vm {
		run = append(run, vmArgs...)
	} else {
		run = append(run, hostArgs...)
	}
	return [][]string{
		append(run, image.Name, id, "sleep", "1000"),
		{"task", "exec", "--exec-id", "e1", id, "true"},
		{"task", "kill", "-s", "9", id},
		{"task", "rm", id},
		{"container", "rm", id},
	}
}

// shimKillTrial runs one container's life until the kill point, kills its
// shim there, waits for containerd's recovery and removes what the user
// removes. It returns how long after the kill the task was cleaned up,
// and what was left behind.
func shimKillTrial(t *testing.T, k killPoint) (time.Duration, []string) {
	ctx := context.Background()
	id := "shimkill-" + strings.ReplaceAll(k.name(), "/", "-")
	arm(t, k.point)
	before := cd.ShimSet()
	vmsBefore := map[int]bool{}
	for _, p := range cd.VMProcesses() {
		vmsBefore[p] = true
	}

	var killed time.Time
	kill := func(pid int) {
		killed = time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill shim %d: %v", pid, err)
		}
	}
	for i, args := range lifecycle(id, k) {
		switch i {
		case 2:
			cd.WaitRunning(t, id) // a kill acts on a running task
		case 3:
			cd.WaitStopped(t, id) // and rm on a stopped one
		}
		done := make(chan harness.Result, 1)
		go func() { done <- cd.Ctr(ctx, args...) }()
		pid := waitKillPoint(t, k, before, vmsBefore, done)
		if pid != 0 {
			kill(pid)
			r := <-done
			t.Logf("%s at the kill: %v %s", strings.Join(args[:2], " "), r.Err, strings.TrimSpace(r.Output()))
			break
		}
		if k.outside == "running" && i == 0 {
			cd.WaitRunning(t, id)
			kill(cd.NewShim(t, before))
			break
		}
	}
	// Shutdown comes after the last step's answer.
	for deadline := time.Now().Add(10 * time.Second); killed.IsZero() && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if pid := reachedPid(t, k, before); pid != 0 {
			kill(pid)
		}
	}
	if killed.IsZero() {
		t.Fatalf("the container's life never reached %s", k.name())
	}
	// containerd notices the dead shim, runs the delete bootstrap and
	// marks the task stopped, or drops it.
	cd.WaitCleanedUp(t, id)
	took := time.Since(killed)
	if st := cd.TaskStatus(id); st != "" && st != "STOPPED" {
		t.Errorf("task %s %s after its shim was killed", id, st)
	}
	// What a user does next: remove the task and the container.
	cd.Ctr(ctx, "task", "rm", "-f", id)
	cd.Ctr(ctx, "container", "rm", id)
	leaks := cd.WaitNoLeaks(20 * time.Second)
	return took, append(leaks, cd.Records()...)
}

// arm makes point the one the next shim to pass it stops at; "" disarms.
func arm(t *testing.T, point string) {
	t.Helper()
	_ = os.Remove(filepath.Join(points, faultpoint.ReachedFile))
	if err := os.WriteFile(filepath.Join(points, faultpoint.ArmedFile), []byte(point), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(filepath.Join(points, faultpoint.ArmedFile)) })
}

// waitKillPoint waits for one step of the life (done) and returns the pid
// of the shim to kill if the step reached the kill point, or 0 when the
// step ended without reaching it.
func waitKillPoint(t *testing.T, k killPoint, before, vmsBefore map[int]bool, done chan harness.Result) int {
	t.Helper()
	for {
		select {
		case r := <-done:
			// Ended without stopping: put the result back for the caller's
			// log and go on with the next step.
			if r.Err != nil {
				t.Fatalf("a step failed before the kill point %s: %v %s", k.name(), r.Err, r.Output())
			}
			return 0
		case <-time.After(20 * time.Millisecond):
		}
		if pid := reachedPid(t, k, before); pid != 0 {
			return pid
		}
		if k.outside == "qemu" {
			for _, p := range cd.VMProcessesOf("qemu-system") {
				if !vmsBefore[p] {
					return cd.NewShim(t, before)
				}
			}
		}
	}
}

// reachedPid returns the pid of the shim that stopped at k's fault point,
// or 0 while none has.
func reachedPid(t *testing.T, k killPoint, before map[int]bool) int {
	t.Helper()
	if k.point == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(points, faultpoint.ReachedFile))
	if err != nil || !strings.HasSuffix(string(b), "\n") {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 || f[1] != k.point {
		t.Fatalf("reached file %q", b)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || before[pid] {
		t.Fatalf("the shim that reached %s (%q) is not this trial's", k.point, b)
	}
	return pid
}
