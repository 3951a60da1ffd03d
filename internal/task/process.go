package task

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/stdio"
)

// state is where a process is in its life. The contract, for a task's init
// process and for every exec alike:
//
//		created  --Start-->            running
//		running  --host reports exit--> exited
//		created  --Delete-->           deleted   (never started)
//		exited   --Delete-->           deleted
//
//	  - Start is valid only in created; an exec starts only while its task's
//	    init is running.
//	  - Kill is valid in created and running; in exited it is ErrNotFound
//	    ("process already finished"), which containerd treats as done.
//	  - Delete is valid in created and exited; in running it is
//	    ErrFailedPrecondition. A deleted process is gone: every call on it is
//	    ErrNotFound.
//	  - Wait returns once the process is exited, i.e. after its TaskExit was
//	    queued, so a client that saw Wait return will also see the event.
//	  - exited is reached only after the host has delivered all of the
//	    process's output, so no byte is lost when a process exits right after
//	    writing.
type state int

const (
	stateCreated state = iota
	stateRunning
	stateExited
	stateDeleted
)

func (s state) String() string {
	switch s {
	case stateCreated:
		return "created"
	case stateRunning:
		return "running"
	case stateExited:
		return "exited"
	case stateDeleted:
		return "deleted"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// process is the task service's record of one process and its state. Its
// fields are guarded by the owning container's mutex.
type process struct {
	execID string // empty for the init process
	host   containerhost.Process
	stdio  stdio.Config
	state  state
	pid    int
	exit   containerhost.Exit
	// exited is closed when the process reaches stateExited.
	exited chan struct{}
}

func newProcess(execID string, host containerhost.Process, io stdio.Config) *process {
	return &process{execID: execID, host: host, stdio: io, pid: host.Pid(), exited: make(chan struct{})}
}

// status maps the state to containerd's task status; paused applies to a
// running process of a paused container.
func (p *process) status(paused bool) task.Status {
	switch p.state {
	case stateCreated:
		return task.Status_CREATED
	case stateRunning:
		if paused {
			return task.Status_PAUSED
		}
		return task.Status_RUNNING
	case stateExited:
		return task.Status_STOPPED
	}
	return task.Status_UNKNOWN
}

// checkStart enforces the Start rule of the contract.
func (p *process) checkStart() error {
	if p.state != stateCreated {
		return fmt.Errorf("process is %s, not created: %w", p.state, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// checkKill enforces the Kill rule of the contract.
func (p *process) checkKill() error {
	switch p.state {
	case stateCreated, stateRunning:
		return nil
	case stateExited:
		return fmt.Errorf("process already finished: %w", errdefs.ErrNotFound)
	}
	return fmt.Errorf("process is %s: %w", p.state, errdefs.ErrNotFound)
}

// checkDelete enforces the Delete rule of the contract.
func (p *process) checkDelete() error {
	switch p.state {
	case stateCreated, stateExited:
		return nil
	case stateRunning:
		return fmt.Errorf("process is running; stop it before deleting: %w", errdefs.ErrFailedPrecondition)
	}
	return fmt.Errorf("process is %s: %w", p.state, errdefs.ErrNotFound)
}

// setExited records the exit; the caller holds the container's mutex and
// has queued the TaskExit event.
func (p *process) setExited(e containerhost.Exit) {
	p.exit = e
	p.state = stateExited
	close(p.exited)
}

// wait blocks until the process exited or ctx ends.
func (p *process) wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// exitOf returns the recorded exit, or a zero exit time before exit.
func (p *process) exitOf() containerhost.Exit {
	if p.state < stateExited {
		return containerhost.Exit{}
	}
	return p.exit
}

// nowIfZero keeps ExitedAt meaningful when a host could not time an exit.
func nowIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
