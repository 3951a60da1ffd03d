package task

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	apitask "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/stdio"
)

// The seam's contracts (containerhost's doc comments) as a table: each
// task API call in each state of the process it names, the errdefs class
// the service answers, and a strict fake Host that fails the test if the
// service calls it outside the states its contract allows.

// pstate is a fake process's state as the seam sees it.
type pstate int

const (
	pCreated pstate = iota
	pRunning
	pExited
	pDeleted
)

func (s pstate) String() string {
	return [...]string{"created", "running", "exited", "deleted"}[s]
}

// strictHost is a Host that checks every call against the seam contract.
type strictHost struct {
	t  *testing.T
	mu sync.Mutex
	c  *strictContainer
}

func (h *strictHost) violation(format string, args ...any) {
	h.t.Helper()
	h.t.Errorf("seam contract broken: "+format, args...)
}

func (h *strictHost) CreateContainer(ctx context.Context, req *containerhost.ContainerRequest) (containerhost.Container, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := &strictContainer{h: h, execs: map[string]*strictProcess{}}
	c.init = &strictProcess{h: h, c: c, pid: 100, exit: make(chan int, 1)}
	h.c = c
	return c, nil
}

func (h *strictHost) Close(context.Context) error { return nil }

type strictContainer struct {
	h       *strictHost
	init    *strictProcess
	execs   map[string]*strictProcess
	deleted bool
}

// live fails the test for a call on a deleted container; the caller holds h.mu.
func (c *strictContainer) live(call string) {
	if c.deleted {
		c.h.violation("%s on a deleted container", call)
	}
}

// initIs fails the test unless the init is in one of states.
func (c *strictContainer) initIs(call string, states ...pstate) {
	for _, s := range states {
		if c.init.state == s {
			return
		}
	}
	c.h.violation("%s with the init %s, want one of %v", call, c.init.state, states)
}

func (c *strictContainer) Init() containerhost.Process { return c.init }

func (c *strictContainer) Exec(ctx context.Context, id string, spec *specs.Process, io stdio.Config) (containerhost.Process, error) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.live("Exec")
	c.initIs("Exec", pRunning)
	p := &strictProcess{h: c.h, c: c, execID: id, pid: 200 + len(c.execs), exit: make(chan int, 1)}
	c.execs[id] = p
	return p, nil
}

func (c *strictContainer) Pause(context.Context) error {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.live("Pause")
	c.initIs("Pause", pRunning)
	return nil
}

func (c *strictContainer) Resume(context.Context) error {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.live("Resume")
	c.initIs("Resume", pRunning)
	return nil
}

func (c *strictContainer) Update(context.Context, *anypb.Any) error {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.live("Update")
	return nil
}

func (c *strictContainer) Stats(context.Context) (*anypb.Any, error) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.live("Stats")
	return &anypb.Any{TypeUrl: "stats"}, nil
}

func (c *strictContainer) Pids(context.Context) ([]*apitask.ProcessInfo, error) {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.live("Pids")
	c.initIs("Pids", pCreated, pRunning)
	return []*apitask.ProcessInfo{{Pid: uint32(c.init.pid)}}, nil
}

func (c *strictContainer) OOM() <-chan struct{} { return nil }

func (c *strictContainer) Delete(context.Context) error {
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	c.live("Delete")
	c.initIs("container Delete", pDeleted)
	for id, p := range c.execs {
		if p.state == pRunning {
			c.h.violation("container Delete with exec %s running", id)
		}
	}
	c.deleted = true
	return nil
}

type strictProcess struct {
	h      *strictHost
	c      *strictContainer
	execID string
	pid    int
	state  pstate
	killed bool
	exit   chan int
}

func (p *strictProcess) is(call string, states ...pstate) {
	p.c.live(call)
	for _, s := range states {
		if p.state == s {
			return
		}
	}
	p.h.violation("%s on %q in %s, want one of %v", call, p.execID, p.state, states)
}

func (p *strictProcess) Pid() int { return p.pid }

func (p *strictProcess) Start(context.Context) error {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	p.is("Start", pCreated)
	if p.execID != "" {
		p.c.initIs("exec Start", pRunning)
	}
	p.state = pRunning
	return nil
}

// finish makes the process exit with status.
func (p *strictProcess) finish(status int) {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	if p.state == pRunning {
		p.state = pExited
		p.exit <- status
	}
}

func (p *strictProcess) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	p.h.mu.Lock()
	p.is("Kill", pCreated, pRunning, pExited)
	p.killed = p.killed || p.state == pCreated
	p.h.mu.Unlock()
	if sig == syscall.SIGKILL {
		p.finish(128 + int(sig))
	}
	return nil
}

func (p *strictProcess) ResizeTTY(context.Context, uint32, uint32) error {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	p.is("ResizeTTY", pCreated, pRunning, pExited)
	return nil
}

func (p *strictProcess) CloseStdin(context.Context) error {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	p.is("CloseStdin", pCreated, pRunning, pExited)
	return nil
}

func (p *strictProcess) Wait(ctx context.Context) (containerhost.Exit, error) {
	p.h.mu.Lock()
	p.is("Wait", pRunning, pExited)
	p.h.mu.Unlock()
	select {
	case s := <-p.exit:
		return containerhost.Exit{Status: s, At: time.Now()}, nil
	case <-ctx.Done():
		return containerhost.Exit{}, ctx.Err()
	}
}

func (p *strictProcess) Delete(context.Context) error {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	if p.state == pCreated && !p.killed {
		p.h.violation("Delete of %q created and never killed", p.execID)
	}
	p.is("Delete", pCreated, pExited)
	p.state = pDeleted
	return nil
}

// contractRig is one service over a strict host, with one task "t".
type contractRig struct {
	t    *testing.T
	ctx  context.Context
	svc  *Service
	host *strictHost
}

func newContractRig(t *testing.T) *contractRig {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), "test")
	ctx, sd := shutdown.WithShutdown(ctx)
	t.Cleanup(sd.Shutdown)
	h := &strictHost{t: t}
	svc, err := NewService(ctx, newRecorder(), sd, func(context.Context, *options.Config) (containerhost.Host, error) { return h, nil })
	if err != nil {
		t.Fatal(err)
	}
	r := &contractRig{t: t, ctx: ctx, svc: svc, host: h}
	if _, err := svc.Create(ctx, &taskAPI.CreateTaskRequest{ID: "t", Bundle: bundle(t, goodSpec())}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *contractRig) must(err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
}

// process returns the fake behind the task's init ("") or exec.
func (r *contractRig) process(execID string) *strictProcess {
	r.host.mu.Lock()
	defer r.host.mu.Unlock()
	if execID == "" {
		return r.host.c.init
	}
	return r.host.c.execs[execID]
}

// exit makes a process exit and waits until the service recorded it.
func (r *contractRig) exit(execID string) {
	r.t.Helper()
	r.process(execID).finish(0)
	_, err := r.svc.Wait(r.ctx, &taskAPI.WaitRequest{ID: "t", ExecID: execID})
	r.must(err)
}

// to brings the init (execID "") or exec "e" to state; an exec's task
// runs.
func (r *contractRig) to(execID string, state pstate) {
	r.t.Helper()
	if execID != "" {
		r.to("", pRunning)
		spec, err := typeurl.MarshalAnyToProto(&specs.Process{Args: []string{"true"}})
		r.must(err)
		_, err = r.svc.Exec(r.ctx, &taskAPI.ExecProcessRequest{ID: "t", ExecID: execID, Spec: spec})
		r.must(err)
	}
	if state == pCreated {
		return
	}
	_, err := r.svc.Start(r.ctx, &taskAPI.StartRequest{ID: "t", ExecID: execID})
	r.must(err)
	if state == pRunning {
		return
	}
	r.exit(execID)
	if state == pExited {
		return
	}
	_, err = r.svc.Delete(r.ctx, &taskAPI.DeleteRequest{ID: "t", ExecID: execID})
	r.must(err)
}

// classOf names an answer's errdefs class, "ok" for none.
func classOf(err error) string {
	err = errgrpc.ToNative(err)
	switch {
	case err == nil:
		return "ok"
	case errdefs.IsNotFound(err):
		return "not found"
	case errdefs.IsFailedPrecondition(err):
		return "failed precondition"
	case errdefs.IsDeadlineExceeded(err), errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	return fmt.Sprintf("other (%v)", err)
}

// contractCalls are the task API's calls on one process of task "t".
var contractCalls = map[string]func(r *contractRig, execID string) error{
	"Start": func(r *contractRig, execID string) error {
		_, err := r.svc.Start(r.ctx, &taskAPI.StartRequest{ID: "t", ExecID: execID})
		return err
	},
	"Kill": func(r *contractRig, execID string) error { // a signal that does not end the fake
		_, err := r.svc.Kill(r.ctx, &taskAPI.KillRequest{ID: "t", ExecID: execID, Signal: 10})
		return err
	},
	"Delete": func(r *contractRig, execID string) error {
		_, err := r.svc.Delete(r.ctx, &taskAPI.DeleteRequest{ID: "t", ExecID: execID})
		return err
	},
	"ResizePty": func(r *contractRig, execID string) error {
		_, err := r.svc.ResizePty(r.ctx, &taskAPI.ResizePtyRequest{ID: "t", ExecID: execID, Width: 80, Height: 24})
		return err
	},
	"CloseIO": func(r *contractRig, execID string) error {
		_, err := r.svc.CloseIO(r.ctx, &taskAPI.CloseIORequest{ID: "t", ExecID: execID, Stdin: true})
		return err
	},
	"State": func(r *contractRig, execID string) error {
		_, err := r.svc.State(r.ctx, &taskAPI.StateRequest{ID: "t", ExecID: execID})
		return err
	},
	"Wait": func(r *contractRig, execID string) error {
		ctx, cancel := context.WithTimeout(r.ctx, 20*time.Millisecond)
		defer cancel()
		_, err := r.svc.Wait(ctx, &taskAPI.WaitRequest{ID: "t", ExecID: execID})
		return err
	},
	// The task-wide calls, on the init only.
	"Exec": func(r *contractRig, _ string) error {
		spec, err := typeurl.MarshalAnyToProto(&specs.Process{Args: []string{"true"}})
		if err != nil {
			return err
		}
		_, err = r.svc.Exec(r.ctx, &taskAPI.ExecProcessRequest{ID: "t", ExecID: "other", Spec: spec})
		return err
	},
	"Pids": func(r *contractRig, _ string) error {
		_, err := r.svc.Pids(r.ctx, &taskAPI.PidsRequest{ID: "t"})
		return err
	},
	"Pause": func(r *contractRig, _ string) error {
		_, err := r.svc.Pause(r.ctx, &taskAPI.PauseRequest{ID: "t"})
		return err
	},
	"Resume": func(r *contractRig, _ string) error {
		_, err := r.svc.Resume(r.ctx, &taskAPI.ResumeRequest{ID: "t"})
		return err
	},
	"Update": func(r *contractRig, _ string) error {
		_, err := r.svc.Update(r.ctx, &taskAPI.UpdateTaskRequest{ID: "t", Resources: &anypb.Any{TypeUrl: "r"}})
		return err
	},
	"Stats": func(r *contractRig, _ string) error {
		_, err := r.svc.Stats(r.ctx, &taskAPI.StatsRequest{ID: "t"})
		return err
	},
}

// TestSeamContracts runs every call in every state, on the init and on
// an exec: the answer's class is the contract's, and the strict host sees
// no call its contract forbids.
func TestSeamContracts(t *testing.T) {
	const (
		ok   = "ok"
		nf   = "not found"
		fp   = "failed precondition"
		wait = "deadline"
	)
	// The answers by state: created, running, exited, deleted.
	tests := []struct {
		call string
		init [4]string
		exec [4]string // zero for the task-wide calls
	}{
		{"Start", [4]string{ok, fp, fp, nf}, [4]string{ok, fp, fp, nf}},
		{"Kill", [4]string{ok, ok, nf, nf}, [4]string{ok, ok, nf, nf}},
		{"Delete", [4]string{ok, fp, ok, nf}, [4]string{ok, fp, ok, nf}},
		{"ResizePty", [4]string{ok, ok, ok, nf}, [4]string{ok, ok, ok, nf}},
		{"CloseIO", [4]string{ok, ok, ok, nf}, [4]string{ok, ok, ok, nf}},
		{"State", [4]string{ok, ok, ok, nf}, [4]string{ok, ok, ok, nf}},
		{"Wait", [4]string{wait, wait, ok, nf}, [4]string{wait, wait, ok, nf}},
		{"Exec", [4]string{fp, ok, fp, nf}, [4]string{}},
		{"Pids", [4]string{ok, ok, fp, nf}, [4]string{}},
		{"Pause", [4]string{fp, ok, fp, nf}, [4]string{}},
		{"Resume", [4]string{fp, ok, fp, nf}, [4]string{}},
		{"Update", [4]string{ok, ok, ok, nf}, [4]string{}},
		{"Stats", [4]string{ok, ok, ok, nf}, [4]string{}},
	}
	for _, tt := range tests {
		for _, target := range []struct {
			execID string
			want   [4]string
		}{{"", tt.init}, {"e", tt.exec}} {
			if target.want[0] == "" {
				continue
			}
			for st := pCreated; st <= pDeleted; st++ {
				name := fmt.Sprintf("%s/init/%s", tt.call, st)
				if target.execID != "" {
					name = fmt.Sprintf("%s/exec/%s", tt.call, st)
				}
				t.Run(name, func(t *testing.T) {
					r := newContractRig(t)
					r.to(target.execID, st)
					if got := classOf(contractCalls[tt.call](r, target.execID)); got != target.want[st] {
						t.Errorf("got %s, want %s", got, target.want[st])
					}
				})
			}
		}
	}
}
