package main

import (
	"testing"

	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
)

// The build tag decides what containerd's shim package finds: the ttrpc
// interceptors and the exporter with shim_tracing, neither without.
func TestTracingPluginsFollowTheBuildTag(t *testing.T) {
	want := map[string]plugin.Type{"otelttrpc": plugins.TTRPCPlugin, "otlp": plugins.TracingProcessorPlugin, "tracing": plugins.InternalPlugin}
	found := map[string]bool{}
	for _, r := range registry.Graph(func(*plugin.Registration) bool { return false }) {
		if typ, ok := want[r.ID]; ok && r.Type == typ {
			found[r.ID] = true
		}
	}
	for id := range want {
		if found[id] != tracingBuiltIn {
			t.Errorf("plugin %s registered: %v; tracing built in: %v", id, found[id], tracingBuiltIn)
		}
	}
}
