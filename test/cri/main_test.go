//go:build e2e

// Package cri drives winctr through containerd's CRI plugin, as the
// kubelet does: pods of two containers in each isolation mode, exec,
// logs, restarts, stats, updates, stop with a grace period, and what is
// left afterwards. Run it with `make e2e`.
package cri

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/internal/faultpoint"
	"github.com/winctr/winctr/test/harness"
)

var (
	cd      *harness.Containerd
	conn    *grpc.ClientConn
	runtime runtimeapi.RuntimeServiceClient
	images  runtimeapi.ImageServiceClient
)

// faultPoints is where a test arms a fault point (internal/faultpoint) in
// the shims, which inherit the directory from containerd.
var faultPoints string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "winctr-cri-faultpoints-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri:", err)
		os.Exit(1)
	}
	faultPoints = dir
	os.Setenv(faultpoint.EnvDir, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := harness.StartCRI(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri: start containerd:", err)
		os.Exit(1)
	}
	cd = c
	conn, err = c.CRIConn()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri: dial:", err)
		c.Close()
		os.Exit(1)
	}
	runtime = runtimeapi.NewRuntimeServiceClient(conn)
	images = runtimeapi.NewImageServiceClient(conn)
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "containerd log tail:\n%s\n", cd.LogTail(80))
	}
	conn.Close()
	cd.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}
