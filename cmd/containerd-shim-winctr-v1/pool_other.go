//go:build !linux

package main

import (
	"context"
	"net"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/winctr/winctr/internal/task"
)

// poolPlan: the warm pool of VMs is kept on Linux hosts only.
type poolPlan struct{ match bool }

func newPoolPlan(context.Context, *bootapi.BootstrapParams, *optionsFromStart, *specs.Spec) (*poolPlan, error) {
	return nil, nil
}

func (p *poolPlan) take(context.Context, string, string, *net.UnixListener) bool { return false }

func (p *poolPlan) refill(context.Context, *bootapi.BootstrapParams, *optionsFromStart) {}

// pooledHostFactory: no shim is pooled here.
func pooledHostFactory(context.Context, shutdown.Service, task.HostFactory) task.HostFactory {
	return nil
}
