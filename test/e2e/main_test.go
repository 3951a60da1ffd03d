//go:build e2e

// Package e2e drives winctr through a real containerd and ctr. Run it with
// `make e2e` (root, runc, busybox-static, containerd and ctr 2.4).
package e2e

import (
	"context"
	"fmt"
	"os"
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
	if code != 0 {
		fmt.Fprintf(os.Stderr, "containerd log tail:\n%s\n", cd.LogTail(60))
	}
	cd.Close()
	os.Exit(code)
}
