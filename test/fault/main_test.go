//go:build e2e

// Package fault is winctr's fault suite (`make fault`): against a real
// containerd, in both isolation modes where they apply, it kills the shim
// at each step of its life, kills QEMU and virtiofsd, freezes the guest
// agent, restarts containerd under running pods, churns containers,
// floods output, and tries what a container or a hostile spec should not
// be able to do. Each test logs its figures and fails on any leak (a
// process, mount, cgroup, socket, FIFO, state directory or containerd
// record left after cleanup) or loss (a byte of output, an exit code, an
// exit event).
package fault

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/winctr/winctr/internal/faultpoint"
	"github.com/winctr/winctr/test/harness"
)

// cd is the containerd every test of the suite shares; tests use distinct
// container ids.
var cd *harness.Containerd

// points is the directory through which shim-kill trials arm a fault
// point (see internal/faultpoint); containerd's shims inherit it.
var points string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "winctr-faultpoints-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fault:", err)
		os.Exit(1)
	}
	points = dir
	os.Setenv(faultpoint.EnvDir, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := harness.Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fault: start containerd:", err)
		os.Exit(1)
	}
	cd = c
	code := m.Run()
	if code == 0 {
		if leaks := append(cd.WaitNoLeaks(10*time.Second), cd.Records()...); len(leaks) > 0 {
			fmt.Fprintln(os.Stderr, "fault: the suite left behind:", leaks)
			code = 1
		}
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "containerd log tail:\n%s\n", cd.LogTail(60))
	}
	cd.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// vmArgs put a ctr container in a utility VM of its own.
var vmArgs = harness.VMOptions("")

// hostArgs run a ctr container on the host kernel.
var hostArgs = []string{"--runtime", harness.Runtime}

// modes are the two isolation modes a scenario runs in.
var modes = []struct {
	name string
	args []string
	vm   bool
}{
	{"host", hostArgs, false},
	{"vm", vmArgs, true},
}
