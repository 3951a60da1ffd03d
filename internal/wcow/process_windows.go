//go:build windows

package wcow

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/windows"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/hcs"
	"github.com/winctr/winctr/internal/hcs/schema"
	"github.com/winctr/winctr/internal/stdio"
	"github.com/winctr/winctr/internal/wcow/hcsdoc"
)

// process is an HCS process of a Windows container: its init or an exec.
// HCS makes the process only at Start; before that it is a spec.
type process struct {
	c    *container
	spec *specs.Process
	io   *stdio.Pipes

	mu   sync.Mutex
	hp   *hcs.Process
	done chan struct{}
	exit containerhost.Exit
}

var _ containerhost.Process = (*process)(nil)

func newProcess(c *container, spec *specs.Process, io *stdio.Pipes) *process {
	return &process{c: c, spec: spec, io: io, done: make(chan struct{})}
}

func (p *process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hp == nil {
		return 0
	}
	return p.hp.Pid()
}

func (p *process) started() *hcs.Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hp
}

// Start creates the process in the container's compute system and starts
// copying its stdio.
func (p *process) Start(ctx context.Context) error {
	cmd := ""
	if len(p.spec.Args) > 0 {
		cmd = windows.ComposeCommandLine(p.spec.Args)
	}
	params, err := hcsdoc.Process(p.spec, cmd, hcsdoc.Stdio{Stdin: p.io.HasStdin(), Stdout: true, Stderr: true})
	if err != nil {
		return err
	}
	hp, err := p.c.sys.CreateProcess(ctx, params)
	if err != nil {
		return fmt.Errorf("start process: %w", err)
	}
	p.mu.Lock()
	p.hp = hp
	p.mu.Unlock()
	// Typed nils must not reach Attach as non-nil interfaces.
	var in io.WriteCloser
	var out, errOut io.Reader
	if hp.Stdin != nil {
		in = hcsStdin{pipe: hp.Stdin, modify: func(req any) error {
			ctx, cancel := context.WithTimeout(context.Background(), stdinCloseTimeout)
			defer cancel()
			return hp.Modify(ctx, req)
		}}
	}
	if hp.Stdout != nil {
		out = hp.Stdout
	}
	if hp.Stderr != nil {
		errOut = hp.Stderr
	}
	p.io.Attach(in, out, errOut)
	go p.waitExit(hp)
	return nil
}

func (p *process) waitExit(hp *hcs.Process) {
	own := awaitExit(hp.Exited(), p.c.sys.Exited(), exitGrace)
	code := -1
	if own {
		code = hp.ExitCode()
	}
	_ = p.io.Settle(context.Background())
	p.exit = containerhost.Exit{Status: exitStatus(code, own), At: time.Now()}
	close(p.done)
}

// Kill delivers sig as Windows can: KILL terminates, the others are
// console control events. all ends every process of the container by
// terminating its compute system.
func (p *process) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	if all {
		return p.c.sys.Terminate(ctx)
	}
	hp := p.started()
	if hp == nil {
		return fmt.Errorf("process not started: %w", errdefs.ErrFailedPrecondition)
	}
	event, err := consoleEvent(sig)
	if err != nil {
		return err
	}
	if event == "" {
		return hp.Terminate(ctx)
	}
	err = hp.Signal(ctx, schema.SignalProcessOptions{Signal: event})
	if errdefs.IsNotImplemented(err) && sig == syscall.SIGTERM {
		// Guests before Windows Server 2019 take no console events: a
		// stop must still stop.
		return hp.Terminate(ctx)
	}
	return err
}

func (p *process) ResizeTTY(ctx context.Context, width, height uint32) error {
	hp := p.started()
	if hp == nil {
		return fmt.Errorf("process not started: %w", errdefs.ErrFailedPrecondition)
	}
	return hp.Modify(ctx, schema.ProcessModifyRequest{
		Operation:   "ConsoleSize",
		ConsoleSize: &schema.ConsoleSize{Height: uint16(min(height, 1<<16-1)), Width: uint16(min(width, 1<<16-1))},
	})
}

// stdinCloseTimeout bounds HCS's closing of a process's stdin handle.
const stdinCloseTimeout = 30 * time.Second

// CloseStdin ends the process's stdin once what containerd wrote is in;
// the pipe's Close (hcsStdin) has HCS close the process's handle.
func (p *process) CloseStdin(ctx context.Context) error { return p.io.CloseStdin() }

func (p *process) Wait(ctx context.Context) (containerhost.Exit, error) {
	select {
	case <-p.done:
		return p.exit, nil
	case <-ctx.Done():
		return containerhost.Exit{}, ctx.Err()
	}
}

func (p *process) Delete(ctx context.Context) error {
	err := p.io.Close()
	if hp := p.started(); hp != nil {
		hp.Close()
	}
	return err
}
