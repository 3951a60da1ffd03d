package wcow

import (
	"testing"
	"time"
)

func TestAwaitExit(t *testing.T) {
	closed := func() chan struct{} { c := make(chan struct{}); close(c); return c }
	for _, tc := range []struct {
		name      string
		proc, sys func() chan struct{}
		late      bool // the process's event comes just after the system's
		want      bool
	}{
		{"process exits", closed, func() chan struct{} { return make(chan struct{}) }, false, true},
		{"system stops, process event follows", func() chan struct{} { return make(chan struct{}) }, closed, true, true},
		// kill --all of a container with an exec: HCS sends the exec no
		// exit event; its exit is reported all the same.
		{"system stops, no process event", func() chan struct{} { return make(chan struct{}) }, closed, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc := tc.proc()
			if tc.late {
				time.AfterFunc(10*time.Millisecond, func() { close(proc) })
			}
			done := make(chan bool, 1)
			go func() { done <- awaitExit(proc, tc.sys(), time.Second) }()
			select {
			case got := <-done:
				if got != tc.want {
					t.Errorf("own exit %v, want %v", got, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no exit")
			}
		})
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		code int
		own  bool
		want int
	}{{0, true, 0}, {3, true, 3}, {-1, true, 137}, {0, false, 137}} {
		if got := exitStatus(tc.code, tc.own); got != tc.want {
			t.Errorf("exitStatus(%d, %v) = %d, want %d", tc.code, tc.own, got, tc.want)
		}
	}
}
