//go:build linux

package gcs

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	apitask "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/stdio"
)

// fakeHost is a runc host without runc: each process runs a little script
// named by its args (see fakeProcess.run) on its stdio pipes, so that the
// agent's protocol and streams are exercised without a kernel container.
type fakeHost struct {
	mu         sync.Mutex
	containers map[string]*fakeContainer
	nextPid    int
}

func newFakeHost() *fakeHost {
	return &fakeHost{containers: map[string]*fakeContainer{}, nextPid: 100}
}

func (h *fakeHost) pid() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextPid++
	return h.nextPid
}

func (h *fakeHost) CreateContainer(ctx context.Context, req *containerhost.ContainerRequest) (containerhost.Container, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.containers[req.ID]; ok {
		return nil, fmt.Errorf("container %s: %w", req.ID, errdefs.ErrAlreadyExists)
	}
	c := &fakeContainer{h: h, id: req.ID, oom: make(chan struct{}, 1)}
	c.init = &fakeProcess{h: h, args: req.Spec.Process.Args, pipes: req.Stdio.Pipes}
	h.containers[req.ID] = c
	return c, nil
}

func (h *fakeHost) StartSandbox(ctx context.Context, req *containerhost.SandboxRequest) (containerhost.Process, error) {
	p := &fakeProcess{h: h, args: []string{"sleep"}, pipes: stdio.FromStreams(nil, nil, nil)}
	return p, p.Start(ctx)
}

func (h *fakeHost) Close(context.Context) error { return nil }

// container returns the fake behind the agent's container id.
func (h *fakeHost) container(id string) *fakeContainer {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.containers[id]
}

type fakeContainer struct {
	h       *fakeHost
	id      string
	init    *fakeProcess
	oom     chan struct{}
	mu      sync.Mutex
	deleted bool
}

func (c *fakeContainer) Init() containerhost.Process { return c.init }

func (c *fakeContainer) Exec(ctx context.Context, id string, spec *specs.Process, io stdio.Config) (containerhost.Process, error) {
	return &fakeProcess{h: c.h, args: spec.Args, pipes: io.Pipes}, nil
}

func (c *fakeContainer) Pause(context.Context) error              { return nil }
func (c *fakeContainer) Resume(context.Context) error             { return nil }
func (c *fakeContainer) Update(context.Context, *anypb.Any) error { return nil }
func (c *fakeContainer) Stats(context.Context) (*anypb.Any, error) {
	return &anypb.Any{TypeUrl: "fake"}, nil
}

func (c *fakeContainer) Pids(context.Context) ([]*apitask.ProcessInfo, error) {
	return []*apitask.ProcessInfo{{Pid: uint32(c.init.Pid())}}, nil
}

func (c *fakeContainer) OOM() <-chan struct{} { return c.oom }

func (c *fakeContainer) Delete(ctx context.Context) error {
	if !c.init.exited() && c.init.Pid() != 0 {
		return fmt.Errorf("container %s: init still runs: %w", c.id, errdefs.ErrFailedPrecondition)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.deleted {
		c.deleted = true
		close(c.oom)
	}
	c.h.mu.Lock()
	delete(c.h.containers, c.id)
	c.h.mu.Unlock()
	return c.init.pipes.Close()
}

// fakeProcess runs its script on a goroutine once started.
type fakeProcess struct {
	h     *fakeHost
	args  []string
	pipes *stdio.Pipes

	mu     sync.Mutex
	pid    int
	stdin  io.WriteCloser
	killed chan syscall.Signal
	done   chan struct{}
	status int
}

func (p *fakeProcess) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

func (p *fakeProcess) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pid != 0 {
		return fmt.Errorf("started twice: %w", errdefs.ErrFailedPrecondition)
	}
	p.pid = p.h.pid()
	p.killed = make(chan syscall.Signal, 1)
	p.done = make(chan struct{})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	p.stdin = inW
	p.pipes.Attach(inW, outR, errR)
	go func() {
		status := p.run(inR, outW, errW)
		outW.Close()
		errW.Close()
		p.mu.Lock()
		p.status = status
		p.mu.Unlock()
		close(p.done)
	}()
	return nil
}

// run is the process's script: "echo words...", "cat" (stdin to stdout),
// "exit n", "sleep" (until a signal).
func (p *fakeProcess) run(in io.Reader, out, errOut io.Writer) int {
	switch p.args[0] {
	case "echo":
		fmt.Fprintln(out, strings.Join(p.args[1:], " "))
		fmt.Fprintln(errOut, "to stderr")
		return 0
	case "cat":
		_, _ = io.Copy(out, in)
		return 0
	case "exit":
		n, _ := strconv.Atoi(p.args[1])
		return n
	}
	return 128 + int(<-p.killed)
}

func (p *fakeProcess) exited() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

func (p *fakeProcess) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pid == 0 {
		return fmt.Errorf("not started: %w", errdefs.ErrFailedPrecondition)
	}
	select {
	case p.killed <- sig:
	default:
	}
	return nil
}

func (p *fakeProcess) ResizeTTY(context.Context, uint32, uint32) error { return nil }

func (p *fakeProcess) CloseStdin(context.Context) error { return p.pipes.CloseStdin() }

func (p *fakeProcess) Wait(ctx context.Context) (containerhost.Exit, error) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return containerhost.Exit{}, fmt.Errorf("never started: %w", errdefs.ErrFailedPrecondition)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return containerhost.Exit{}, ctx.Err()
	}
	_ = p.pipes.Settle(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	return containerhost.Exit{Status: p.status, At: time.Now()}, nil
}

func (p *fakeProcess) Delete(context.Context) error { return p.pipes.Close() }
