//go:build linux

package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestKillLeftoversOnlyKillsItsOwn(t *testing.T) {
	dir := t.TempDir()
	ours := exec.Command("sh", "-c", "sleep 60", dir) // the dir shows in its command line
	other := exec.Command("sleep", "60")
	for _, c := range []*exec.Cmd{ours, other} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	defer other.Process.Kill()
	defer ours.Process.Kill()
	writePid(dir, "qemu.pid", ours.Process.Pid)
	writePid(dir, "virtiofsd.pid", other.Process.Pid)
	KillLeftovers(dir)

	done := make(chan error, 1)
	go func() { done <- ours.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the VM's process was not killed")
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(other.Process.Pid))); err != nil {
		t.Fatal("a process not naming the VM dir was killed")
	}
}
