//go:build linux

package runchost

import (
	"sync"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	runc "github.com/containerd/go-runc"
)

// exitWatcher hands the exits the shim's reaper collects to the processes
// waiting for them. A container process can exit before the runc call that
// started it has told us its pid; exits seen while any start is in flight
// are therefore kept until that start claims its pid, and dropped after.
type exitWatcher struct {
	mu      sync.Mutex
	waiters map[int]chan runc.Exit
	// starts holds, per start in flight, the exits seen since it began.
	starts map[*startWindow]struct{}
}

// startWindow collects exits while one process is being started.
type startWindow struct {
	exits map[int]runc.Exit
}

func newExitWatcher() *exitWatcher {
	w := &exitWatcher{waiters: map[int]chan runc.Exit{}, starts: map[*startWindow]struct{}{}}
	ch := reaper.Default.Subscribe()
	go w.run(ch)
	return w
}

func (w *exitWatcher) run(ch chan runc.Exit) {
	for e := range ch {
		w.mu.Lock()
		if c, ok := w.waiters[e.Pid]; ok {
			c <- e
			delete(w.waiters, e.Pid)
		}
		for s := range w.starts {
			s.exits[e.Pid] = e
		}
		w.mu.Unlock()
	}
}

// begin opens a window before a process is started.
func (w *exitWatcher) begin() *startWindow {
	s := &startWindow{exits: map[int]runc.Exit{}}
	w.mu.Lock()
	w.starts[s] = struct{}{}
	w.mu.Unlock()
	return s
}

// claim closes the window and returns a channel that delivers pid's exit,
// including one that happened inside the window. pid 0 (the start failed)
// only closes the window.
func (w *exitWatcher) claim(s *startWindow, pid int) <-chan runc.Exit {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.starts, s)
	if pid == 0 {
		return nil
	}
	c := make(chan runc.Exit, 1)
	if e, ok := s.exits[pid]; ok {
		c <- e
		return c
	}
	w.waiters[pid] = c
	return c
}

// forget stops waiting for pid (the process was deleted without an exit).
func (w *exitWatcher) forget(pid int) {
	w.mu.Lock()
	delete(w.waiters, pid)
	w.mu.Unlock()
}

// exitTime keeps the reaper's timestamp, or now when it has none.
func exitTime(e runc.Exit) time.Time {
	if e.Timestamp.IsZero() {
		return time.Now()
	}
	return e.Timestamp
}
