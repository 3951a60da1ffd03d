package task

import (
	"context"
	"fmt"
	"sync"
	"syscall"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/stdio"
)

// container is the task service's record of one task: its init process, its
// execs and the pause flag. mu guards every process state of the container.
type container struct {
	id     string
	bundle string
	rootfs []*types.Mount
	host   containerhost.Container
	events *eventQueue
	// sandbox marks a CRI pod's sandbox task.
	sandbox bool

	mu     sync.Mutex
	init   *process
	execs  map[string]*process
	paused bool
	// runningExecs counts execs started and not yet exited; execsIdle is
	// signalled when it drops, so the init's exit can wait for them.
	runningExecs int
	execsIdle    *sync.Cond
}

func newContainer(id, bundle string, rootfs []*types.Mount, host containerhost.Container, io stdio.Config, q *eventQueue) *container {
	c := &container{
		id:     id,
		bundle: bundle,
		rootfs: rootfs,
		host:   host,
		events: q,
		execs:  map[string]*process{},
	}
	c.execsIdle = sync.NewCond(&c.mu)
	c.init = newProcess("", host.Init(), io)
	return c
}

// process returns the init (execID "") or the named exec; the caller holds mu.
func (c *container) process(execID string) (*process, error) {
	if execID == "" {
		return c.init, nil
	}
	p, ok := c.execs[execID]
	if !ok {
		return nil, fmt.Errorf("exec %q of task %q: %w", execID, c.id, errdefs.ErrNotFound)
	}
	return p, nil
}

// start starts the init or an exec, queues its start event and then watches
// for its exit. Queuing the start event before the watcher exists is what
// puts TaskStart (or TaskExecStarted) ahead of TaskExit.
func (c *container) start(ctx context.Context, execID string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.process(execID)
	if err != nil {
		return 0, err
	}
	if err := p.checkStart(); err != nil {
		return 0, err
	}
	if execID != "" && c.init.state != stateRunning {
		return 0, fmt.Errorf("task %q is %s; cannot start exec %q: %w", c.id, c.init.state, execID, errdefs.ErrFailedPrecondition)
	}
	if err := p.host.Start(ctx); err != nil {
		return 0, fmt.Errorf("start %s: %w", c.name(execID), err)
	}
	p.pid = p.host.Pid()
	p.state = stateRunning
	if execID == "" {
		c.events.send(runtime.TaskStartEventTopic, &eventstypes.TaskStart{ContainerID: c.id, Pid: uint32(p.pid)})
	} else {
		c.runningExecs++
		c.events.send(runtime.TaskExecStartedEventTopic, &eventstypes.TaskExecStarted{ContainerID: c.id, ExecID: execID, Pid: uint32(p.pid)})
	}
	go c.watch(ctx, p)
	return p.pid, nil
}

// watch waits for a started process to exit and publishes its exit. For
// the init it first ends the container's remaining execs and waits for
// their exits, so that the task's TaskExit comes last.
func (c *container) watch(ctx context.Context, p *process) {
	ctx = context.WithoutCancel(ctx)
	e, err := p.host.Wait(ctx)
	if err != nil {
		// The host lost the process (its VM died, say): report it as killed
		// rather than leaving the task running forever.
		log.G(ctx).WithError(err).WithField("task", c.id).WithField("exec", p.execID).Error("wait for process")
		e = containerhost.Exit{Status: 128 + int(syscall.SIGKILL)}
	}
	e.At = nowIfZero(e.At)

	c.mu.Lock()
	defer c.mu.Unlock()
	if p.execID == "" {
		c.endExecsLocked(ctx)
	}
	c.events.send(runtime.TaskExitEventTopic, &eventstypes.TaskExit{
		ContainerID: c.id,
		ID:          c.idOf(p.execID),
		Pid:         uint32(p.pid),
		ExitStatus:  uint32(e.Status),
		ExitedAt:    protobuf.ToTimestamp(e.At),
	})
	p.setExited(e)
	if p.execID != "" {
		c.runningExecs--
		c.execsIdle.Broadcast()
	}
}

// endExecsLocked kills the execs still running after the init exited (they
// survive it when the container shares a PID namespace) and waits for their
// exit events. The caller holds mu; Wait on the condition releases it.
func (c *container) endExecsLocked(ctx context.Context) {
	if c.runningExecs == 0 {
		return
	}
	for id, e := range c.execs {
		if e.state == stateRunning {
			if err := e.host.Kill(ctx, syscall.SIGKILL, false); err != nil {
				log.G(ctx).WithError(err).WithField("task", c.id).WithField("exec", id).Debug("kill exec after init exit")
			}
		}
	}
	for c.runningExecs > 0 {
		c.execsIdle.Wait()
	}
}

// idOf is the ID field of TaskExit: the exec id, or the task id for init.
func (c *container) idOf(execID string) string {
	if execID == "" {
		return c.id
	}
	return execID
}

func (c *container) name(execID string) string {
	if execID == "" {
		return fmt.Sprintf("task %q", c.id)
	}
	return fmt.Sprintf("exec %q of task %q", execID, c.id)
}
