//go:build e2e

// Package e2e drives winctr through a real containerd and ctr. Run it with
// `make e2e` (root, runc, busybox-static, containerd and ctr 2.4).
package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/winctr/winctr/test/harness"
)

// cd is the containerd every test of the suite shares; tests use distinct
// container ids.
var cd *harness.Containerd

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := harness.Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start containerd:", err)
		os.Exit(1)
	}
	cd = c
	code := m.Run()
	if code == 0 {
		// After the whole suite: no task, shim, mount, FIFO or state left.
		if leaks := finalLeaks(); len(leaks) > 0 {
			fmt.Fprintln(os.Stderr, "e2e: the suite left behind:", leaks)
			code = 1
		}
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "containerd log tail:\n%s\n", cd.LogTail(60))
	}
	cd.Close()
	os.Exit(code)
}

func finalLeaks() []string {
	var leaks []string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		leaks = cd.Leaks()
		if r := cd.Ctr(context.Background(), "task", "ls", "-q"); strings.TrimSpace(r.Stdout) != "" {
			leaks = append(leaks, "tasks "+strings.Join(strings.Fields(r.Stdout), ","))
		}
		if len(leaks) == 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return leaks
}
