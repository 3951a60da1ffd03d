//go:build !shim_tracing

package main

// tracingBuiltIn: the tracing plugins are not linked in (see tracing.go).
const tracingBuiltIn = false
