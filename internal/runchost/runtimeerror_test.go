//go:build linux

package runchost

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
)

// TestRuntimeError: a process that is already gone is "not found" however
// the runtime words it (the kill race: crun in a guest says "open pidfd:
// No such process"), and the error names the runtime that produced it.
func TestRuntimeError(t *testing.T) {
	crun := &runc.Runc{Command: "/usr/bin/crun"}
	hostRunc := &runc.Runc{Command: "runc"}
	tests := []struct {
		name     string
		r        *runc.Runc
		verb     string
		msg      string
		notFound bool
		paused   bool
		prefix   string
	}{
		{"crun kill of an exited process", crun, "kill", "crun did not terminate successfully: exit status 1: open pidfd: No such process", true, false, "crun kill: "},
		{"runc kill of a stopped container", hostRunc, "kill", "runc did not terminate successfully: exit status 1: container not running", true, false, "runc kill: "},
		{"runc kill, process finished", hostRunc, "kill", "os: process already finished", true, false, "runc kill: "},
		{"crun delete of a removed container", crun, "delete", "container `c1` does not exist", true, false, "crun delete: "},
		{"paused", hostRunc, "kill", "container c1 is paused", false, true, "runc kill: "},
		{"exec of a missing binary is not a gone process", crun, "exec", "executable file not found in $PATH", false, false, "crun exec: "},
		{"create of a missing binary", hostRunc, "create", "exec: \"nope\": executable file not found", false, false, "runc create: "},
		{"anything else", crun, "update", "cgroup: permission denied", false, false, "crun update: "},
		{"no client", nil, "ps", "boom", false, false, "runc ps: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runtimeError(tt.r, tt.verb, errors.New(tt.msg))
			if errdefs.IsNotFound(err) != tt.notFound || errdefs.IsFailedPrecondition(err) != tt.paused {
				t.Fatalf("%v: not found %v, failed precondition %v", err, errdefs.IsNotFound(err), errdefs.IsFailedPrecondition(err))
			}
			if !strings.HasPrefix(err.Error(), tt.prefix) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("%q does not start with %q and carry the runtime's words", err, tt.prefix)
			}
		})
	}
}
