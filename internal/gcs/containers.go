//go:build linux

package gcs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	apitask "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/stdio"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// Namespace is the runc state namespace inside the guest: a VM serves
// one pod, so one is enough.
const Namespace = "winctr"

// streamWait bounds how long a process waits for its stdio streams.
const streamWait = 10 * time.Second

// Host is where the agent runs the pod's containers: the runc Host of
// package runchost in the guest, a fake in tests.
type Host interface {
	containerhost.Host
	containerhost.SandboxHost
}

// Config is the agent's tree and its container host.
type Config struct {
	// Root is the agent's tree: every container's root and bind mount
	// sources must resolve under it.
	Root string
	// BundlesDir holds the guest's bundles (config.json); the rootfs are
	// in the share.
	BundlesDir string
	// SysctlDir is where the pod's net.* sysctls are written (/proc/sys).
	SysctlDir string
	// NewHost builds the container host at the first container.
	NewHost func(ctx context.Context) (Host, error)
	// Logf writes one line of the agent's log.
	Logf func(format string, args ...any)
	// NetAdminModules, when set, loads the kernel modules a container
	// that manages its network expects (bridge, veth, tun, netfilter).
	// It is called before each container that may hold CAP_NET_ADMIN
	// (a privileged one, say), so it must be cheap once it succeeded; an
	// error is logged, and the container still created: not every such
	// container uses them.
	NetAdminModules func() error
}

// Containers is the container and process half of the agent API: it runs
// the pod's containers through one Host, with the stdio streams the host
// opened through the Router.
type Containers struct {
	cfg    Config
	router *Router

	mu    sync.Mutex
	host  Host
	conts map[string]*guestContainer
}

type guestContainer struct {
	c       containerhost.Container
	procs   map[string]containerhost.Process // "" is the init
	deleted chan struct{}                    // closed by DeleteContainer
}

// NewContainers returns the service with no container yet.
func NewContainers(cfg Config) *Containers {
	return &Containers{cfg: cfg, conts: map[string]*guestContainer{}}
}

// UseRouter makes r the source of the stdio streams of processes created
// from now on: each session with the host has its own.
func (s *Containers) UseRouter(r *Router) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.router = r
}

func (s *Containers) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// pipes collects the stdio streams the host opened for a process.
func (s *Containers) pipes(ctx context.Context, io *agent.Stdio) (*stdio.Pipes, error) {
	if io == nil {
		return stdio.FromStreams(nil, nil, nil), nil
	}
	streams, err := s.Streams(ctx, io)
	if err != nil {
		return nil, err
	}
	return stdio.FromStreams(readerOrNil(streams[0]), writerOrNil(streams[1]), writerOrNil(streams[2])), nil
}

// Streams takes the stdio streams the host opened under io's key, as
// they are (nil where io asks for none): for a program of the agent's
// own, such as a debug shell, that is no container's process.
func (s *Containers) Streams(ctx context.Context, io *agent.Stdio) ([3]net.Conn, error) {
	var streams [3]net.Conn
	if io == nil {
		return streams, nil
	}
	s.mu.Lock()
	router := s.router
	s.mu.Unlock()
	if router == nil {
		return streams, fmt.Errorf("stdio streams before a session: %w", errdefs.ErrFailedPrecondition)
	}
	ctx, cancel := context.WithTimeout(ctx, streamWait)
	defer cancel()
	for fd, want := range []bool{io.Stdin, io.Stdout, io.Stderr && !io.Terminal} {
		if !want {
			continue
		}
		c, err := router.take(ctx, io.Key, fd)
		if err != nil {
			for _, st := range streams {
				if st != nil {
					st.Close()
				}
			}
			return [3]net.Conn{}, err
		}
		streams[fd] = c
	}
	return streams, nil
}

// readerOrNil and writerOrNil keep a nil stream a nil interface.
func readerOrNil(c net.Conn) io.ReadCloser {
	if c == nil {
		return nil
	}
	return c
}

func writerOrNil(c net.Conn) io.WriteCloser {
	if c == nil {
		return nil
	}
	return c
}

func (s *Containers) hostFor(ctx context.Context) (Host, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.host == nil {
		h, err := s.cfg.NewHost(ctx)
		if err != nil {
			return nil, err
		}
		s.host = h
	}
	return s.host, nil
}

func (s *Containers) get(id string) (*guestContainer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conts[id]
	if !ok {
		return nil, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	return c, nil
}

func (s *Containers) proc(id, execID string) (containerhost.Process, *guestContainer, error) {
	c, err := s.get(id)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := c.procs[execID]
	if !ok {
		return nil, nil, fmt.Errorf("exec %q of %q: %w", execID, id, errdefs.ErrNotFound)
	}
	return p, c, nil
}

func (s *Containers) CreateContainer(ctx context.Context, r *agent.CreateContainerRequest) (*agent.PidResponse, error) {
	var spec specs.Spec
	if err := json.Unmarshal(r.SpecJson, &spec); err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("spec: %v: %w", err, errdefs.ErrInvalidArgument))
	}
	if err := containerhost.CheckSpec(&spec); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if err := CheckGuestSpec(r.ContainerId, &spec, s.cfg.Root); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	applied, err := applyNetSysctls(s.cfg.SysctlDir, &spec)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	downgraded, err := forRuntimeSpec11(&spec)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if applied || downgraded {
		if r.SpecJson, err = json.Marshal(&spec); err != nil {
			return nil, errgrpc.ToGRPC(err)
		}
	}
	bundle := filepath.Join(s.cfg.BundlesDir, r.ContainerId)
	if err := os.MkdirAll(bundle, 0o711); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), r.SpecJson, 0o600); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if s.cfg.NetAdminModules != nil && mayAdminNetwork(&spec) {
		if err := s.cfg.NetAdminModules(); err != nil {
			s.logf("container %s: network admin modules: %v", r.ContainerId, err)
		}
	}
	h, err := s.hostFor(ctx)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	pipes, err := s.pipes(ctx, r.Stdio)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	c, err := h.CreateContainer(ctx, &containerhost.ContainerRequest{
		Namespace: Namespace,
		ID:        r.ContainerId,
		Bundle:    bundle,
		Spec:      &spec,
		Stdio:     stdio.Config{Terminal: r.Stdio.GetTerminal(), Pipes: pipes},
	})
	if err != nil {
		pipes.Close()
		return nil, errgrpc.ToGRPC(err)
	}
	s.mu.Lock()
	s.conts[r.ContainerId] = &guestContainer{c: c, procs: map[string]containerhost.Process{"": c.Init()}, deleted: make(chan struct{})}
	s.mu.Unlock()
	s.logf("created container %s, init pid %d", r.ContainerId, c.Init().Pid())
	return &agent.PidResponse{Pid: uint32(c.Init().Pid())}, nil
}

// mayAdminNetwork tells whether the container's processes may ever hold
// CAP_NET_ADMIN: it is in their bounding set.
func mayAdminNetwork(spec *specs.Spec) bool {
	return spec.Process != nil && spec.Process.Capabilities != nil &&
		slices.Contains(spec.Process.Capabilities.Bounding, "CAP_NET_ADMIN")
}

func (s *Containers) ExecProcess(ctx context.Context, r *agent.ExecProcessRequest) (*emptypb.Empty, error) {
	if err := identifiers.Validate(r.ExecId); err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("exec id: %v: %w", err, errdefs.ErrInvalidArgument))
	}
	c, err := s.get(r.ContainerId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	var ps specs.Process
	if err := json.Unmarshal(r.ProcessJson, &ps); err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("process spec: %v: %w", err, errdefs.ErrInvalidArgument))
	}
	pipes, err := s.pipes(ctx, r.Stdio)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	p, err := c.c.Exec(ctx, r.ExecId, &ps, stdio.Config{Terminal: r.Stdio.GetTerminal(), Pipes: pipes})
	if err != nil {
		pipes.Close()
		return nil, errgrpc.ToGRPC(err)
	}
	s.mu.Lock()
	c.procs[r.ExecId] = p
	s.mu.Unlock()
	return &emptypb.Empty{}, nil
}

func (s *Containers) StartProcess(ctx context.Context, r *agent.ProcessRequest) (*agent.PidResponse, error) {
	p, _, err := s.proc(r.ContainerId, r.ExecId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if err := p.Start(ctx); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	s.logf("started %s exec %q, pid %d", r.ContainerId, r.ExecId, p.Pid())
	return &agent.PidResponse{Pid: uint32(p.Pid())}, nil
}

func (s *Containers) SignalProcess(ctx context.Context, r *agent.SignalProcessRequest) (*emptypb.Empty, error) {
	p, _, err := s.proc(r.ContainerId, r.ExecId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &emptypb.Empty{}, errgrpc.ToGRPC(p.Kill(ctx, syscall.Signal(r.Signal), r.All))
}

func (s *Containers) WaitProcess(ctx context.Context, r *agent.ProcessRequest) (*agent.WaitProcessResponse, error) {
	p, _, err := s.proc(r.ContainerId, r.ExecId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	e, err := p.Wait(ctx)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	s.logf("%s exec %q exited with status %d", r.ContainerId, r.ExecId, e.Status)
	return &agent.WaitProcessResponse{ExitStatus: uint32(e.Status), ExitedAtUnixNano: e.At.UnixNano()}, nil
}

func (s *Containers) ResizeTTY(ctx context.Context, r *agent.ResizeTTYRequest) (*emptypb.Empty, error) {
	p, _, err := s.proc(r.ContainerId, r.ExecId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &emptypb.Empty{}, errgrpc.ToGRPC(p.ResizeTTY(ctx, r.Width, r.Height))
}

func (s *Containers) CloseStdin(ctx context.Context, r *agent.ProcessRequest) (*emptypb.Empty, error) {
	p, _, err := s.proc(r.ContainerId, r.ExecId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &emptypb.Empty{}, errgrpc.ToGRPC(p.CloseStdin(ctx))
}

func (s *Containers) DeleteProcess(ctx context.Context, r *agent.ProcessRequest) (*emptypb.Empty, error) {
	p, c, err := s.proc(r.ContainerId, r.ExecId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if err := p.Delete(ctx); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if r.ExecId != "" {
		s.mu.Lock()
		delete(c.procs, r.ExecId)
		s.mu.Unlock()
	}
	return &emptypb.Empty{}, nil
}

func (s *Containers) DeleteContainer(ctx context.Context, r *agent.ContainerRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.ContainerId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if err := c.c.Delete(ctx); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	s.mu.Lock()
	if s.conts[r.ContainerId] == c {
		delete(s.conts, r.ContainerId)
		close(c.deleted)
	}
	s.mu.Unlock()
	_ = os.RemoveAll(filepath.Join(s.cfg.BundlesDir, r.ContainerId))
	s.logf("deleted container %s", r.ContainerId)
	return &emptypb.Empty{}, nil
}

func (s *Containers) PauseContainer(ctx context.Context, r *agent.ContainerRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.ContainerId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &emptypb.Empty{}, errgrpc.ToGRPC(c.c.Pause(ctx))
}

func (s *Containers) ResumeContainer(ctx context.Context, r *agent.ContainerRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.ContainerId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &emptypb.Empty{}, errgrpc.ToGRPC(c.c.Resume(ctx))
}

func (s *Containers) UpdateContainer(ctx context.Context, r *agent.UpdateContainerRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.ContainerId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &emptypb.Empty{}, errgrpc.ToGRPC(c.c.Update(ctx, r.Resources))
}

func (s *Containers) Stats(ctx context.Context, r *agent.ContainerRequest) (*agent.StatsResponse, error) {
	c, err := s.get(r.ContainerId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	st, err := c.c.Stats(ctx)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &agent.StatsResponse{Stats: st}, nil
}

func (s *Containers) Pids(ctx context.Context, r *agent.ContainerRequest) (*agent.PidsResponse, error) {
	c, err := s.get(r.ContainerId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	ps, err := c.c.Pids(ctx)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	out := &agent.PidsResponse{}
	for _, p := range ps {
		out.Pids = append(out.Pids, p.Pid)
	}
	return out, nil
}

// WaitOOM waits for the container's next out-of-memory event.
func (s *Containers) WaitOOM(ctx context.Context, r *agent.ContainerRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.ContainerId)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	select {
	case _, ok := <-c.c.OOM():
		if !ok {
			// Closed: the container was deleted, which is no OOM (its
			// delete closes this channel before c.deleted).
			return nil, errgrpc.ToGRPC(fmt.Errorf("container %s: deleted: %w", r.ContainerId, errdefs.ErrNotFound))
		}
		s.logf("container %s ran out of memory", r.ContainerId)
		return &emptypb.Empty{}, nil
	case <-c.deleted:
		return nil, errgrpc.ToGRPC(fmt.Errorf("container %s: %w", r.ContainerId, errdefs.ErrNotFound))
	case <-ctx.Done():
		return nil, errgrpc.ToGRPC(ctx.Err())
	}
}

// StartSandbox starts a pod's pause process and keeps it as a container.
func (s *Containers) StartSandbox(ctx context.Context, r *agent.StartSandboxRequest) (*agent.PidResponse, error) {
	h, err := s.hostFor(ctx)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	s.mu.Lock()
	_, exists := s.conts[r.SandboxId]
	s.mu.Unlock()
	if exists {
		return nil, errgrpc.ToGRPC(fmt.Errorf("sandbox %s: %w", r.SandboxId, errdefs.ErrAlreadyExists))
	}
	p, err := h.StartSandbox(ctx, &containerhost.SandboxRequest{ID: r.SandboxId, Hostname: r.Hostname})
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	s.mu.Lock()
	s.conts[r.SandboxId] = &guestContainer{c: pauseContainer{p}, procs: map[string]containerhost.Process{"": p}, deleted: make(chan struct{})}
	s.mu.Unlock()
	s.logf("started sandbox %s, pause pid %d", r.SandboxId, p.Pid())
	return &agent.PidResponse{Pid: uint32(p.Pid())}, nil
}

// pauseContainer is a pod's pause process in the container table: it
// holds namespaces and runs nothing else.
type pauseContainer struct{ p containerhost.Process }

func (c pauseContainer) Init() containerhost.Process { return c.p }
func (c pauseContainer) Exec(context.Context, string, *specs.Process, stdio.Config) (containerhost.Process, error) {
	return nil, notInSandbox("exec")
}
func (c pauseContainer) Pause(context.Context) error               { return notInSandbox("pause") }
func (c pauseContainer) Resume(context.Context) error              { return notInSandbox("resume") }
func (c pauseContainer) Update(context.Context, *anypb.Any) error  { return notInSandbox("update") }
func (c pauseContainer) Stats(context.Context) (*anypb.Any, error) { return nil, notInSandbox("stats") }
func (c pauseContainer) Pids(context.Context) ([]*apitask.ProcessInfo, error) {
	return []*apitask.ProcessInfo{{Pid: uint32(c.p.Pid())}}, nil
}
func (c pauseContainer) OOM() <-chan struct{}             { return nil }
func (c pauseContainer) Delete(ctx context.Context) error { return c.p.Delete(ctx) }

func notInSandbox(op string) error {
	return fmt.Errorf("%s on a pod's pause process: %w", op, errdefs.ErrNotImplemented)
}
