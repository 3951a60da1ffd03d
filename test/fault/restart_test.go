//go:build e2e

package fault

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// downtime is how long containerd stays down: longer than the 15 s over
// which containerd's shim package retries an event it could not send.
const downtime = 20 * time.Second

// counterLines is how many numbered lines the counting container writes
// across containerd's restart (harness.CounterScript).
const counterLines = 600

// TestContainerdRestarted stops containerd under a running pod for
// longer than a shim's retries of one event, and starts it again: the
// pod's tasks are reachable afterwards, the output a container wrote
// meanwhile is all in its log, and an exit that happened while
// containerd was down is reported (TaskExit with its status, and the
// status on delete) once it is back.
func TestContainerdRestarted(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			pod := "restart-" + mode.name
			podArgs := append(append([]string{}, mode.args...), "--annotation", "io.kubernetes.cri.sandbox-id="+pod)
			counter, exiter := pod+"-counter", pod+"-exiter"
			cd.CleanupTask(t, counter)
			cd.CleanupTask(t, exiter)
			logPath := filepath.Join(t.TempDir(), "counter.log")
			script := harness.CounterScript(counterLines)
			if r := cd.Ctr(ctx, append(append([]string{"run", "-d", "--log-uri", "file://" + logPath}, podArgs...), image.Name, counter, "sh", "-c", script)...); r.Err != nil {
				t.Fatalf("run %s: %v %s", counter, r.Err, r.Output())
			}
			cd.WaitRunning(t, counter)
			if r := cd.Ctr(ctx, append(append([]string{"run", "-d"}, podArgs...), image.Name, exiter, "sh", "-c", "sleep 3; exit 7")...); r.Err != nil {
				t.Fatalf("run %s: %v %s", exiter, r.Err, r.Output())
			}
			linesBefore := countLines(logPath)

			cd.Stop()
			down := time.Now()
			time.Sleep(downtime)
			linesDown := countLines(logPath)
			logBefore := logSize()
			resumed := time.Now()
			if err := cd.Resume(ctx); err != nil {
				t.Fatalf("containerd did not come back: %v", err)
			}
			ev := cd.WatchEvents(t)
			t.Logf("containerd down for %s; the counter's log grew from %d to %d lines meanwhile", resumed.Sub(down).Round(time.Millisecond), linesBefore, linesDown)

			// Reachable: the running task answers an exec.
			if r := cd.Ctr(ctx, "task", "exec", "--exec-id", "after-restart", counter, "true"); r.Err != nil {
				t.Fatalf("exec in %s after the restart: %v %s", counter, r.Err, r.Output())
			}
			if st := cd.TaskStatus(counter); st != "RUNNING" {
				t.Fatalf("%s is %q after the restart, want RUNNING", counter, st)
			}
			// The exit that happened while containerd was down: its TaskExit
			// comes once containerd is back. containerd 2.4 then reaps a
			// task whose shim lists no process (it takes it for one whose
			// create never finished), so the task may be gone; if it is
			// still there, delete must give the exit code too.
			deadline := time.Now().Add(30 * time.Second)
			exit, seen := ev.TaskExit(exiter)
			for !seen && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				exit, seen = ev.TaskExit(exiter)
			}
			switch {
			case seen:
				t.Logf("TaskExit of %s (status %d) seen %s after containerd was started again", exiter, exit.ExitStatus, time.Since(resumed).Round(time.Millisecond))
				if exit.ExitStatus != 7 {
					t.Errorf("TaskExit status %d, want 7", exit.ExitStatus)
				}
			case strings.Contains(logSince(logBefore), "event delivered after containerd came back") && strings.Contains(logSince(logBefore), "topic=/tasks/exit"):
				// containerd took it before this test's subscription started.
				t.Logf("TaskExit of %s delivered to containerd before the test subscribed (shim log)", exiter)
			default:
				t.Errorf("no TaskExit for %s, which exited while containerd was down", exiter)
			}
			switch st := cd.TaskStatus(exiter); st {
			case "":
				t.Logf("containerd reaped %s at its start", exiter)
			case "STOPPED":
				if r := cd.Ctr(ctx, "task", "rm", exiter); r.Err != nil || !strings.Contains(r.Output(), "exit code 7") {
					t.Errorf("task rm %s: %v %q; want its exit code 7", exiter, r.Err, r.Output())
				}
			default:
				t.Errorf("%s is %s after it exited", exiter, st)
			}
			cd.Ctr(ctx, "container", "rm", exiter)

			// Nothing lost: every line the counter wrote, in order.
			deadline = time.Now().Add(3 * time.Minute)
			for countLines(logPath) < counterLines && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
			}
			b, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			lost := harness.CounterMissing(lines, counterLines)
			t.Logf("counter log: %d of %d lines, %d lost or out of order", len(lines), counterLines, lost)
			if lost > 0 || len(lines) != counterLines {
				t.Errorf("counter log has %d lines, %d of %d lost or out of order", len(lines), lost, counterLines)
			}
			cd.Ctr(ctx, "task", "kill", "-s", "9", counter)
			cd.WaitStopped(t, counter)
			cd.RemoveTask(t, counter)
			cd.AssertNoLeaks(t)
		})
	}
}

// countLines counts the complete lines in the file at path.
func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// logSize is the length of containerd's log now.
func logSize() int64 {
	st, err := os.Stat(cd.Log)
	if err != nil {
		return 0
	}
	return st.Size()
}

// logSince returns what containerd (and its shims) logged after offset.
func logSince(offset int64) string {
	b, err := os.ReadFile(cd.Log)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	return string(b[offset:])
}
