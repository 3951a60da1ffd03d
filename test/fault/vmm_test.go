//go:build e2e

package fault

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// TestVMMKilled kills -9 the QEMU, and separately the virtiofsd, of a VM
// pod with two running containers: every task of the pod must publish
// TaskExit with a non-zero status within 5 s, a waiting `ctr run` must
// return, and removal must succeed with nothing left.
func TestVMMKilled(t *testing.T) {
	harness.RequireBootFiles(t)
	for _, victim := range []string{"qemu-system", "virtiofsd"} {
		t.Run(victim, func(t *testing.T) {
			ctx := context.Background()
			ev := cd.WatchEvents(t)
			pod := "vmm-kill-" + victim
			podArgs := append(append([]string{}, vmArgs...), "--annotation", "io.kubernetes.cri.sandbox-id="+pod)
			waiting, detached := pod+"-a", pod+"-b"
			cd.CleanupTask(t, waiting)
			cd.CleanupTask(t, detached)
			cmd := cd.CtrCmd(ctx, append(append([]string{"run", "--rm"}, podArgs...), image.Name, waiting, "sleep", "1000")...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			cd.WaitRunning(t, waiting)
			cd.StartSleeper(t, detached, podArgs...)

			pid := vmProcess(t, victim)
			killed := time.Now()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{waiting, detached} {
				var exit harness.TaskExit
				deadline := time.Now().Add(30 * time.Second)
				seen := false
				for !seen && time.Now().Before(deadline) {
					if exit, seen = ev.TaskExit(id); !seen {
						time.Sleep(20 * time.Millisecond)
					}
				}
				took := time.Since(killed)
				if !seen {
					t.Fatalf("no TaskExit for %s 30 s after %s died (task %s)", id, victim, cd.TaskStatus(id))
				}
				t.Logf("%s: TaskExit status %d seen %s after %s was killed", id, exit.ExitStatus, took.Round(time.Millisecond), victim)
				if exit.ExitStatus == 0 {
					t.Errorf("%s exited 0 after %s died; want a non-zero status", id, victim)
				}
				if took > 5*time.Second {
					t.Errorf("%s's exit came %s after %s died; want it within 5 s", id, took, victim)
				}
			}
			select {
			case err := <-done:
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() == 0 {
					t.Fatalf("ctr run ended with %v, want a non-zero exit", err)
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("ctr run still waiting 30 s after %s died", victim)
			}
			cd.WaitStopped(t, detached)
			cd.RemoveTask(t, detached)
			cd.AssertNoLeaks(t)
		})
	}
}

// vmProcess returns the pid of the one VM process (QEMU or virtiofsd)
// of this containerd whose command line names victim.
func vmProcess(t *testing.T, victim string) int {
	t.Helper()
	pids := cd.VMProcessesOf(victim)
	if len(pids) != 1 {
		t.Fatalf("%d %s processes, want 1", len(pids), victim)
	}
	return pids[0]
}
