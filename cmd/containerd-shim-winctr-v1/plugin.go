package main

import (
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
	"github.com/containerd/ttrpc"

	"github.com/winctr/winctr/internal/eventfwd"
	"github.com/winctr/winctr/internal/task"
)

// ttrpcAddressEnv names containerd's ttrpc address in the shim's
// environment, where containerd's shim package also reads it.
const ttrpcAddressEnv = "TTRPC_ADDRESS"

// registerTaskPlugin makes the task service one of the shim's ttrpc
// services, fed with an event publisher that holds events across a
// containerd restart (eventfwd) and the shim's shutdown.
func registerTaskPlugin() {
	registry.Register(&plugin.Registration{
		Type:     plugins.TTRPCPlugin,
		ID:       "task",
		Requires: []plugin.Type{plugins.InternalPlugin},
		InitFn: func(ic *plugin.InitContext) (any, error) {
			var opts []ttrpc.ClientOpts
			// Trace context on the events too, as containerd's publisher does.
			if p, err := ic.GetByID(plugins.TTRPCPlugin, "otelttrpc"); err == nil {
				if o, ok := p.(shim.TTRPCClientUnaryOptioner); ok {
					opts = append(opts, ttrpc.WithUnaryClientInterceptor(o.UnaryClientInterceptor()))
				}
			}
			pub, err := eventfwd.New(os.Getenv(ttrpcAddressEnv), opts...)
			if err != nil {
				return nil, fmt.Errorf("event publisher: %w", err)
			}
			sd, err := ic.GetByID(plugins.InternalPlugin, "shutdown")
			if err != nil {
				return nil, err
			}
			// The connection goes with the shim's process: shutdown's
			// callbacks run together, so closing it in one would cut off
			// the events another is still sending.
			factory := hostFactory(ic.Context)
			if pooled := pooledHostFactory(ic.Context, sd.(shutdown.Service), factory); pooled != nil {
				factory = pooled
			}
			factory = serveDebug(ic.Context, sd.(shutdown.Service), factory)
			return task.NewService(ic.Context, pub, sd.(shutdown.Service), factory)
		},
	})
}
