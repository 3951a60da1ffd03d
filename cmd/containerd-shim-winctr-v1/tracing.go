//go:build shim_tracing

package main

// OpenTelemetry spans on every ttrpc call, exported when the usual OTEL_*
// environment asks for it. Only with the shim_tracing build tag, as
// containerd builds its runc shim: the SDK and its OTLP exporters would
// otherwise be a fifth of a lone shim's memory, for every pod, whether
// anyone collects the spans or not.
import _ "github.com/containerd/containerd/v2/pkg/tracing/plugin"

// tracingBuiltIn: the tracing plugins are linked in.
const tracingBuiltIn = true
