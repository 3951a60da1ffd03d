package hcs

import (
	"fmt"
	"testing"
)

// TestStoppedIsDone: stopping what has stopped already is success,
// however HCS says so, the element not found of a process whose system
// is gone included.
func TestStoppedIsDone(t *testing.T) {
	for _, hr := range []uint32{hrSystemAlreadyStopped, hrProcessAlreadyStopped, hrSystemNotFound, hrNotFound} {
		if err := fmt.Errorf("kill: %w", newError("TerminateProcess", "c1", hr, "")); !IsAlreadyStopped(err) {
			t.Errorf("0x%08x: not taken as stopped", hr)
		}
	}
	if IsAlreadyStopped(newError("TerminateProcess", "c1", hrAccessDenied, "")) {
		t.Error("access denied taken as stopped")
	}
}

// TestProcessExitCode: the exit code HCS reports counts only when its
// wait for the process succeeded.
func TestProcessExitCode(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      int
	}{
		{"exited", `{"ProcessId":12,"Exited":true,"ExitCode":3,"LastWaitResult":0}`, 3},
		{"exit code 0", `{"ProcessId":12,"Exited":true}`, 0},
		{"wait failed", `{"ProcessId":12,"Exited":true,"ExitCode":0,"LastWaitResult":-2147024890}`, -1},
		{"not json", `gone`, -1},
		{"no document", ``, -1},
	} {
		if got := processExitCode(tc.doc); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
