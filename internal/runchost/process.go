//go:build linux

package runchost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/console"
	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/stdio"
)

// process is one runc-managed process: a container's init or an exec.
type process struct {
	c      *container
	execID string         // empty for init
	spec   *specs.Process // exec only
	pipes  *stdio.Pipes
	term   bool

	mu      sync.Mutex
	pid     int
	rio     runc.IO
	console console.Console
	// ttyFile is the console's master as the runtime's poller serves it:
	// the copy reads and writes through it (see pollableConsole).
	ttyFile *os.File
	exitCh  <-chan runc.Exit
	exit    *containerhost.Exit
	deleted bool
}

var _ containerhost.Process = (*process)(nil)

// Pid returns the host pid, 0 before an exec starts.
func (p *process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// openIO prepares runc's side of stdio for a process about to be created:
// pipes, or a console socket when a terminal was asked for.
func (p *process) openIO(uid, gid int) (*runc.Socket, error) {
	if p.term {
		s, err := runc.NewTempConsoleSocket()
		if err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
		return s, nil
	}
	rio, err := runc.NewPipeIO(uid, gid, func(o *runc.IOOption) {
		o.OpenStdin = p.pipes.HasStdin()
		o.OpenStdout = true
		o.OpenStderr = true
	})
	if err != nil {
		return nil, fmt.Errorf("stdio pipes: %w", err)
	}
	p.rio = rio
	return nil, nil
}

// attachIO wires the process's streams to containerd's once runc has
// created the process.
func (p *process) attachIO(ctx context.Context, sock *runc.Socket) error {
	if sock != nil {
		defer sock.Close()
		con, err := sock.ReceiveMaster()
		if err != nil {
			return fmt.Errorf("receive console: %w", err)
		}
		p.console = con
		f, err := pollableConsole(con)
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
		p.ttyFile = f
		p.pipes.Attach(stdio.TTYInput(f), f, nil)
		return nil
	}
	// The process holds the child ends now; ours would keep EOF away.
	if sc, ok := p.rio.(runc.StartCloser); ok {
		if err := sc.CloseAfterStart(); err != nil {
			log.G(ctx).WithError(err).Debug("close child ends of stdio pipes")
		}
	}
	var in io.WriteCloser
	if p.pipes.HasStdin() {
		in = p.rio.Stdin()
	}
	p.pipes.Attach(in, p.rio.Stdout(), p.rio.Stderr())
	return nil
}

// pollableConsole returns a second file of the console's master that the
// runtime's poller serves, so that a read waiting in it can be woken: an
// exec's exit is settled from inside its output's copy (stdio.SettleExit).
// The master's file description turns non-blocking; the console itself
// is then used only for resizes and its close.
func pollableConsole(con console.Console) (*os.File, error) {
	fd, err := unix.Dup(int(con.Fd()))
	if err != nil {
		return nil, fmt.Errorf("dup master: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("non-blocking master: %w", err)
	}
	return os.NewFile(uintptr(fd), con.Name()), nil
}

// Start starts the init (runc start) or runs the exec (runc exec --detach).
func (p *process) Start(ctx context.Context) error {
	if p.execID == "" {
		if err := p.c.runc.Start(ctx, p.c.id); err != nil {
			return runtimeError(p.c.runc, "start", withRuncLog(err, p.c.runc.Log))
		}
		return nil
	}
	return p.startExec(ctx)
}

func (p *process) startExec(ctx context.Context) error {
	pidFile := filepath.Join(p.c.bundle, "exec-"+p.execID+".pid")
	defer os.Remove(pidFile)
	return p.launch(ctx, pidFile, func(rio runc.IO, sock *runc.Socket) error {
		opts := &runc.ExecOpts{PidFile: pidFile, Detach: true, IO: rio}
		if sock != nil {
			opts.ConsoleSocket = sock
		}
		if err := p.c.runc.Exec(ctx, p.c.id, *p.spec, opts); err != nil {
			return runtimeError(p.c.runc, "exec", withRuncLog(err, p.c.runc.Log))
		}
		return nil
	})
}

// launch makes the host process through one runc call (create or exec):
// it prepares stdio, watches for an exit that may come before the pid is
// known, reads the pid runc wrote to pidFile and attaches stdio.
func (p *process) launch(ctx context.Context, pidFile string, call func(runc.IO, *runc.Socket) error) (retErr error) {
	uid, gid := p.c.ioOwner()
	sock, err := p.openIO(uid, gid)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			if sock != nil {
				sock.Close()
			}
			if p.rio != nil {
				p.rio.Close()
			}
		}
	}()
	w := p.c.h.exits.begin()
	pid := 0
	defer func() { p.setExitCh(p.c.h.exits.claim(w, pid)) }()
	if err := call(p.rio, sock); err != nil {
		return err
	}
	if pid, err = runc.ReadPidFile(pidFile); err != nil {
		return fmt.Errorf("read pid: %w", err)
	}
	p.mu.Lock()
	p.pid = pid
	p.mu.Unlock()
	return p.attachIO(ctx, sock)
}

func (p *process) setExitCh(ch <-chan runc.Exit) {
	p.mu.Lock()
	p.exitCh = ch
	p.mu.Unlock()
}

// Kill signals the process; for init, runc kill (with --all when asked).
func (p *process) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	if p.execID == "" {
		if err := p.c.runc.Kill(ctx, p.c.id, int(sig), &runc.KillOpts{All: all}); err != nil {
			return runtimeError(p.c.runc, "kill", err)
		}
		return nil
	}
	pid := p.Pid()
	if pid == 0 {
		return fmt.Errorf("exec %q not started: %w", p.execID, errdefs.ErrFailedPrecondition)
	}
	if err := unix.Kill(pid, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("process already finished: %w", errdefs.ErrNotFound)
		}
		return fmt.Errorf("signal %d to pid %d: %w", sig, pid, err)
	}
	return nil
}

// ResizeTTY resizes the process's terminal.
func (p *process) ResizeTTY(ctx context.Context, width, height uint32) error {
	p.mu.Lock()
	con := p.console
	p.mu.Unlock()
	if con == nil {
		return fmt.Errorf("process has no terminal: %w", errdefs.ErrFailedPrecondition)
	}
	return con.Resize(console.WinSize{Width: uint16(width), Height: uint16(height)})
}

// CloseStdin closes the process's stdin.
func (p *process) CloseStdin(ctx context.Context) error {
	return p.pipes.CloseStdin()
}

// Wait returns the exit once the reaper reported it and the output drained.
func (p *process) Wait(ctx context.Context) (containerhost.Exit, error) {
	p.mu.Lock()
	ch := p.exitCh
	p.mu.Unlock()
	if ch == nil {
		return containerhost.Exit{}, fmt.Errorf("process was never started: %w", errdefs.ErrFailedPrecondition)
	}
	var e runc.Exit
	select {
	case e = <-ch:
	case <-ctx.Done():
		return containerhost.Exit{}, ctx.Err()
	}
	if p.execID == "" && !privatePIDNamespace(p.c.spec) {
		// No PID namespace of its own dies with the init, so its other
		// processes would live on (and hold its output open): end them,
		// as containerd's runc shim does.
		if err := p.c.runc.Kill(ctx, p.c.id, int(unix.SIGKILL), &runc.KillOpts{All: true}); err != nil {
			log.G(ctx).WithError(err).WithField("task", p.c.id).Warn("kill the container's remaining processes")
		}
	}
	settle := p.pipes.Settle
	if p.execID != "" {
		// An exec's child may outlive it, holding its output open; the
		// exit waits for the output that exists, not for that pipe.
		settle = p.pipes.SettleExit
	}
	if err := settle(ctx); err != nil {
		// Something outside the container's reach holds the output open.
		log.G(ctx).WithError(err).WithField("pid", e.Pid).Warn("output still open after exit; closed it")
	}
	ex := containerhost.Exit{Status: e.Status, At: exitTime(e)}
	p.mu.Lock()
	p.exit = &ex
	p.mu.Unlock()
	if p.execID == "" {
		p.c.recordExit(ex)
	}
	return ex, nil
}

// Delete releases the process's stdio; later calls do nothing.
func (p *process) Delete(ctx context.Context) error {
	p.mu.Lock()
	if p.deleted {
		p.mu.Unlock()
		return nil
	}
	p.deleted = true
	pid, exited := p.pid, p.exit != nil
	con, tty, rio := p.console, p.ttyFile, p.rio
	p.mu.Unlock()
	if !exited && pid != 0 {
		p.c.h.exits.forget(pid)
	}
	var errs []error
	if tty != nil {
		errs = append(errs, tty.Close())
	}
	if con != nil {
		errs = append(errs, con.Close())
	}
	if rio != nil {
		// Attach may have closed stdin already.
		if err := rio.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, p.pipes.Close())
	return errors.Join(errs...)
}

// runtimeError maps the OCI runtime's failures onto errdefs so containerd
// shows a reason, naming the runtime that failed (runc on the host, crun
// in a guest). Only calls on an existing container can mean "it is gone";
// a failed create or exec saying "not found" is about the process's
// executable. runc and crun word "gone" differently, and crun capitalises
// errno texts ("open pidfd: No such process").
func runtimeError(r *runc.Runc, verb string, err error) error {
	op := runtimeName(r) + " " + verb
	switch verb {
	case "create", "start", "exec":
		return fmt.Errorf("%s: %w", op, err)
	}
	msg := strings.ToLower(err.Error())
	switch {
	case containsAny(msg, "does not exist", "not found", "container not running", "process already finished", "no such process"):
		return fmt.Errorf("%s: %v: %w", op, err, errdefs.ErrNotFound)
	case containsAny(msg, "is paused", "is not paused", "container is stopped"):
		return fmt.Errorf("%s: %v: %w", op, err, errdefs.ErrFailedPrecondition)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// runtimeName is the OCI runtime's name as its binary is called.
func runtimeName(r *runc.Runc) string {
	if r == nil || r.Command == "" {
		return "runc"
	}
	return filepath.Base(r.Command)
}

// privatePIDNamespace tells whether the spec gives the container a new
// PID namespace, whose processes all die with its init.
func privatePIDNamespace(spec *specs.Spec) bool {
	if spec == nil || spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace {
			return ns.Path == ""
		}
	}
	return false
}
