//go:build e2e

// Package ops tests the winctr command against pods that a real
// containerd runs with the shim: ps, logs, stacks, shell and check.
package ops

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/winctr/winctr/test/harness"
)

var cd *harness.Containerd

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := harness.Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ops: start containerd:", err)
		os.Exit(1)
	}
	cd = c
	code := m.Run()
	if code == 0 {
		if leaks := cd.WaitNoLeaks(10 * time.Second); len(leaks) > 0 {
			fmt.Fprintln(os.Stderr, "ops: the suite left behind:", leaks)
			code = 1
		}
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "containerd log tail:\n%s\n", cd.LogTail(60))
	}
	cd.Close()
	os.Exit(code)
}
