package wcow

import (
	"syscall"
	"time"
)

// exitGrace bounds how long a process's own exit event is awaited once
// its compute system has stopped.
const exitGrace = 5 * time.Second

// awaitExit returns when a process of a compute system has exited: its own
// exit event (proc closed) or, since HCS sends no event for the processes
// a system's stop ended (an exec after kill --all), the system's stop
// (sys closed) and then grace without one. own says the process's event
// came, so its exit code is HCS's.
func awaitExit(proc, sys <-chan struct{}, grace time.Duration) (own bool) {
	select {
	case <-proc:
		return true
	case <-sys:
	}
	select {
	case <-proc:
		return true
	case <-time.After(grace):
		return false
	}
}

// exitStatus is the status reported for a process that exited with code
// (-1: HCS could not tell), own false when it ended with its system: a
// process ended that way was killed, as the delete bootstrap reports too.
func exitStatus(code int, own bool) int {
	if !own || code < 0 {
		return 128 + int(syscall.SIGKILL)
	}
	return code
}
