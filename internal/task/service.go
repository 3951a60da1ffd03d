// Package task implements containerd's Task v3 service for winctr: the task
// and exec state machines, the ordered event stream, and the pod that owns
// the Host where containers run.
package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"syscall"

	eventstypes "github.com/containerd/containerd/api/events"
	sandboxapi "github.com/containerd/containerd/api/runtime/sandbox/v1"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"

	// ProcessDetails is the type ctr and CRI decode to tell execs apart in Pids.
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/faultpoint"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/stdio"
)

// Service is containerd's Task v3 API for one shim: every task of one pod
// (or one standalone container) on one Host.
type Service struct {
	ns       string
	factory  HostFactory
	events   *eventQueue
	shutdown shutdown.Service

	mu         sync.Mutex
	host       containerhost.Host
	hostConfig *options.Config
	containers map[string]*container
	// sandbox is the pod the Sandbox API created, if it did.
	sandbox *podSandbox
	// deleting are the tasks whose container is being deleted; a Shutdown
	// that finds only those left is owed once they are gone (see
	// Shutdown).
	deleting     map[string]bool
	shutdownOwed bool
}

var _ taskAPI.TTRPCTaskService = (*Service)(nil)

// NewService returns the task service. factory builds the pod's Host when
// the first container is created; events go to p in the shim's namespace.
func NewService(ctx context.Context, p publisher, sd shutdown.Service, factory HostFactory) (*Service, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, fmt.Errorf("task service: %w", err)
	}
	s := &Service{
		ns:         ns,
		factory:    factory,
		events:     newEventQueue(ctx, ns, p),
		shutdown:   sd,
		containers: map[string]*container{},
		deleting:   map[string]bool{},
	}
	sd.RegisterCallback(func(ctx context.Context) error {
		s.events.close()
		return nil
	})
	return s, nil
}

// RegisterTTRPC registers the service with the shim's ttrpc server.
func (s *Service) RegisterTTRPC(server *ttrpc.Server) error {
	taskAPI.RegisterTTRPCTaskService(server, s)
	sandboxapi.RegisterTTRPCSandboxService(server, sandboxService{s})
	return nil
}

// get returns the container with the given id.
func (s *Service) get(id string) (*container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		return nil, fmt.Errorf("task %q: %w", id, errdefs.ErrNotFound)
	}
	return c, nil
}

// ReadSpec loads and checks the OCI spec of a bundle. A spec that cannot
// run (no process, no root) is an ErrInvalidArgument naming what is missing.
func ReadSpec(bundle string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("bundle %s has no config.json: %w", bundle, errdefs.ErrInvalidArgument)
		}
		return nil, fmt.Errorf("read spec: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("spec %s is not valid JSON: %v: %w", filepath.Join(bundle, "config.json"), err, errdefs.ErrInvalidArgument)
	}
	if err := containerhost.CheckSpec(&spec); err != nil {
		return nil, err
	}
	return &spec, nil
}

// Create creates a task: its container on the pod's Host, with the init
// process not yet started.
func (s *Service) Create(ctx context.Context, r *taskAPI.CreateTaskRequest) (*taskAPI.CreateTaskResponse, error) {
	ctx = log.WithLogger(ctx, log.G(ctx).WithField("task", r.ID))
	if r.ID == "" {
		return nil, errgrpc.ToGRPC(fmt.Errorf("task id is empty: %w", errdefs.ErrInvalidArgument))
	}
	if r.Checkpoint != "" || r.ParentCheckpoint != "" {
		return nil, errgrpc.ToGRPC(fmt.Errorf("restore from checkpoint: %w", errdefs.ErrNotImplemented))
	}
	spec, err := ReadSpec(r.Bundle)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	opts, err := options.Decode(r.Options)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	cfg, err := options.ResolveSpec(opts, spec, goruntime.GOOS)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if cfg.LogLevel != "" {
		if err := log.SetLevel(cfg.LogLevel); err != nil {
			return nil, errgrpc.ToGRPC(fmt.Errorf("log_level %q: %v: %w", cfg.LogLevel, err, errdefs.ErrInvalidArgument))
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.containers[r.ID]; ok {
		return nil, errgrpc.ToGRPC(fmt.Errorf("task %q: %w", r.ID, errdefs.ErrAlreadyExists))
	}
	if err := s.checkPodMember(r.ID, spec); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if err := s.addPodFiles(r.Bundle, spec); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	faultpoint.Reach("create")
	if cfg.Isolation == options.IsolationHypervisor {
		if err := containerhost.CheckVMSpec(spec); err != nil {
			return nil, errgrpc.ToGRPC(err)
		}
	}
	host, err := s.hostFor(ctx, cfg)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	io := stdio.Config{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal}
	hc, err := host.CreateContainer(ctx, &containerhost.ContainerRequest{
		Namespace: s.ns,
		ID:        r.ID,
		Bundle:    r.Bundle,
		Spec:      spec,
		Rootfs:    r.Rootfs,
		Stdio:     io,
	})
	if err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("create task %q: %w", r.ID, err))
	}
	faultpoint.Reach("created")
	c := newContainer(r.ID, r.Bundle, r.Rootfs, hc, io, s.events)
	c.sandbox = spec.Annotations[containerhost.AnnotationContainerType] == containerhost.ContainerTypeSandbox
	s.containers[r.ID] = c
	s.events.send(runtime.TaskCreateEventTopic, &eventstypes.TaskCreate{
		ContainerID: r.ID,
		Bundle:      r.Bundle,
		Rootfs:      r.Rootfs,
		IO:          &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
		Checkpoint:  r.Checkpoint,
		Pid:         uint32(c.init.pid),
	})
	if ch := hc.OOM(); ch != nil {
		go s.forwardOOM(r.ID, ch)
	}
	return &taskAPI.CreateTaskResponse{Pid: uint32(c.init.pid)}, nil
}

// hostFor returns the pod's Host, building it for the first container. A
// later container must ask for the same isolation and OS as the first.
// The caller holds s.mu.
func (s *Service) hostFor(ctx context.Context, cfg *options.Config) (containerhost.Host, error) {
	if s.host != nil {
		if cfg.Isolation != s.hostConfig.Isolation || cfg.OS != s.hostConfig.OS {
			return nil, fmt.Errorf("container asks for %s isolation on %s but its pod runs %s isolation on %s: %w",
				cfg.Isolation, cfg.OS, s.hostConfig.Isolation, s.hostConfig.OS, errdefs.ErrInvalidArgument)
		}
		return s.host, nil
	}
	h, err := s.factory(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.host, s.hostConfig = h, cfg
	return h, nil
}

func (s *Service) forwardOOM(id string, ch <-chan struct{}) {
	for range ch {
		s.events.send(runtime.TaskOOMEventTopic, &eventstypes.TaskOOM{ContainerID: id})
	}
}

// Start starts a task's init process or one of its execs.
func (s *Service) Start(ctx context.Context, r *taskAPI.StartRequest) (*taskAPI.StartResponse, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if r.ExecID == "" {
		faultpoint.Reach("start")
	} else {
		faultpoint.Reach("start-exec")
	}
	pid, err := c.start(ctx, r.ExecID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &taskAPI.StartResponse{Pid: uint32(pid)}, nil
}

// Delete deletes an exec, or the task with its container once the init
// process has exited or was never started.
func (s *Service) Delete(ctx context.Context, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	c.mu.Lock()
	p, err := c.process(r.ExecID)
	if err == nil {
		err = p.checkDelete()
	}
	if err == nil && r.ExecID == "" && c.runningExecs > 0 {
		err = fmt.Errorf("task %q still has running execs: %w", r.ID, errdefs.ErrFailedPrecondition)
	}
	if err != nil {
		c.mu.Unlock()
		return nil, errgrpc.ToGRPC(err)
	}
	if r.ExecID == "" {
		faultpoint.Reach("delete")
	}
	if p.state == stateCreated {
		// Never started: the host process exists but no exit will come, so
		// end it and record it as killed.
		if err := p.host.Kill(ctx, syscall.SIGKILL, false); err != nil {
			log.G(ctx).WithError(err).WithField("task", r.ID).Debug("kill created process")
		}
		p.setExited(containerhost.Exit{Status: 128 + int(syscall.SIGKILL), At: nowIfZero(p.exit.At)})
	}
	if err := p.host.Delete(ctx); err != nil {
		c.mu.Unlock()
		return nil, errgrpc.ToGRPC(fmt.Errorf("delete %s: %w", c.name(r.ExecID), err))
	}
	if r.ExecID != "" {
		delete(c.execs, r.ExecID)
	}
	p.state = stateDeleted
	e := p.exit
	c.mu.Unlock()

	resp := &taskAPI.DeleteResponse{Pid: uint32(p.pid), ExitStatus: uint32(e.Status), ExitedAt: protobuf.ToTimestamp(e.At)}
	if r.ExecID != "" {
		return resp, nil
	}
	faultpoint.Reach("delete-container")
	s.mu.Lock()
	s.deleting[r.ID] = true
	s.mu.Unlock()
	defer s.deleted(ctx, r.ID)
	if err := c.host.Delete(ctx); err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("delete container %q: %w", r.ID, err))
	}
	s.mu.Lock()
	delete(s.containers, r.ID)
	s.mu.Unlock()
	s.events.send(runtime.TaskDeleteEventTopic, &eventstypes.TaskDelete{
		ContainerID: r.ID,
		ID:          r.ID,
		Pid:         resp.Pid,
		ExitStatus:  resp.ExitStatus,
		ExitedAt:    resp.ExitedAt,
	})
	return resp, nil
}

// Exec adds a process to a running task; it is started by Start.
func (s *Service) Exec(ctx context.Context, r *taskAPI.ExecProcessRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if r.ExecID == "" {
		return nil, errgrpc.ToGRPC(fmt.Errorf("exec id is empty: %w", errdefs.ErrInvalidArgument))
	}
	if r.Spec == nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("exec %q has no process spec: %w", r.ExecID, errdefs.ErrInvalidArgument))
	}
	var ps specs.Process
	if err := typeurl.UnmarshalTo(r.Spec, &ps); err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("exec %q: decode process spec: %v: %w", r.ExecID, err, errdefs.ErrInvalidArgument))
	}
	if len(ps.Args) == 0 && ps.CommandLine == "" {
		return nil, errgrpc.ToGRPC(fmt.Errorf("exec %q: process has no args: %w", r.ExecID, errdefs.ErrInvalidArgument))
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.execs[r.ExecID]; ok {
		return nil, errgrpc.ToGRPC(fmt.Errorf("exec %q of task %q: %w", r.ExecID, r.ID, errdefs.ErrAlreadyExists))
	}
	if c.init.state != stateRunning {
		return nil, errgrpc.ToGRPC(fmt.Errorf("task %q is %s; exec needs a running task: %w", r.ID, c.init.state, errdefs.ErrFailedPrecondition))
	}
	faultpoint.Reach("exec")
	io := stdio.Config{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal}
	hp, err := c.host.Exec(ctx, r.ExecID, &ps, io)
	if err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("exec %q in task %q: %w", r.ExecID, r.ID, err))
	}
	c.execs[r.ExecID] = newProcess(r.ExecID, hp, io)
	s.events.send(runtime.TaskExecAddedEventTopic, &eventstypes.TaskExecAdded{ContainerID: r.ID, ExecID: r.ExecID})
	return &emptypb.Empty{}, nil
}

// State reports a task's or an exec's state.
func (s *Service) State(ctx context.Context, r *taskAPI.StateRequest) (*taskAPI.StateResponse, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.process(r.ExecID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	e := p.exitOf()
	resp := &taskAPI.StateResponse{
		ID:         r.ID,
		Bundle:     c.bundle,
		Pid:        uint32(p.pid),
		Status:     p.status(c.paused),
		Stdin:      p.stdio.Stdin,
		Stdout:     p.stdio.Stdout,
		Stderr:     p.stdio.Stderr,
		Terminal:   p.stdio.Terminal,
		ExitStatus: uint32(e.Status),
		ExecID:     r.ExecID,
	}
	if !e.At.IsZero() {
		resp.ExitedAt = protobuf.ToTimestamp(e.At)
	}
	return resp, nil
}

// Pids lists the task's processes, marking those that are execs.
func (s *Service) Pids(ctx context.Context, r *taskAPI.PidsRequest) (*taskAPI.PidsResponse, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	c.mu.Lock()
	exited := c.init.state == stateExited
	c.mu.Unlock()
	if exited {
		// Not an empty list: containerd, loading its tasks at start, takes
		// a task whose shim lists no process for one whose create never
		// finished and deletes it, and CRI then reports an exit that
		// happened while containerd was down with an unknown code.
		return nil, errgrpc.ToGRPC(fmt.Errorf("task %q has exited; it has no processes: %w", r.ID, errdefs.ErrFailedPrecondition))
	}
	procs, err := c.host.Pids(ctx)
	if err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("pids of task %q: %w", r.ID, err))
	}
	c.mu.Lock()
	byPid := map[uint32]string{}
	for id, e := range c.execs {
		if e.pid > 0 {
			byPid[uint32(e.pid)] = id
		}
	}
	c.mu.Unlock()
	for _, p := range procs {
		if id, ok := byPid[p.Pid]; ok && p.Info == nil {
			info, err := typeurl.MarshalAnyToProto(&runcoptions.ProcessDetails{ExecID: id})
			if err == nil {
				p.Info = info
			}
		}
	}
	return &taskAPI.PidsResponse{Processes: procs}, nil
}

// Pause freezes every process of a running task.
func (s *Service) Pause(ctx context.Context, r *taskAPI.PauseRequest) (*emptypb.Empty, error) {
	return s.setPaused(ctx, r.ID, true)
}

// Resume thaws a paused task.
func (s *Service) Resume(ctx context.Context, r *taskAPI.ResumeRequest) (*emptypb.Empty, error) {
	return s.setPaused(ctx, r.ID, false)
}

func (s *Service) setPaused(ctx context.Context, id string, pause bool) (*emptypb.Empty, error) {
	c, err := s.get(id)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.init.state != stateRunning {
		return nil, errgrpc.ToGRPC(fmt.Errorf("task %q is %s: %w", id, c.init.state, errdefs.ErrFailedPrecondition))
	}
	if c.paused == pause {
		return &emptypb.Empty{}, nil
	}
	if pause {
		if err := c.host.Pause(ctx); err != nil {
			return nil, errgrpc.ToGRPC(fmt.Errorf("pause task %q: %w", id, err))
		}
		c.events.send(runtime.TaskPausedEventTopic, &eventstypes.TaskPaused{ContainerID: id})
	} else {
		if err := c.host.Resume(ctx); err != nil {
			return nil, errgrpc.ToGRPC(fmt.Errorf("resume task %q: %w", id, err))
		}
		c.events.send(runtime.TaskResumedEventTopic, &eventstypes.TaskResumed{ContainerID: id})
	}
	c.paused = pause
	return &emptypb.Empty{}, nil
}

// Checkpoint is not supported: neither runc-on-host checkpoints through
// CRIU nor VM snapshots are part of winctr yet.
func (s *Service) Checkpoint(ctx context.Context, r *taskAPI.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return nil, errgrpc.ToGRPC(fmt.Errorf("checkpoint: %w", errdefs.ErrNotImplemented))
}

// Kill signals a task's init (with all: every process of the task) or an
// exec. A pod's sandbox killed with all ends its own processes only, as
// with containerd's runc shim: containerd and the kubelet's sandbox
// recovery count on a pod's other containers outliving it until they are
// stopped themselves.
func (s *Service) Kill(ctx context.Context, r *taskAPI.KillRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	c.mu.Lock()
	p, err := c.process(r.ExecID)
	if err == nil {
		err = p.checkKill()
	}
	c.mu.Unlock()
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if err := p.host.Kill(ctx, syscall.Signal(r.Signal), r.All); err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("kill %s: %w", c.name(r.ExecID), err))
	}
	return &emptypb.Empty{}, nil
}

// ResizePty resizes a process's terminal.
func (s *Service) ResizePty(ctx context.Context, r *taskAPI.ResizePtyRequest) (*emptypb.Empty, error) {
	p, c, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if err := p.host.ResizeTTY(ctx, r.Width, r.Height); err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("resize %s: %w", c.name(r.ExecID), err))
	}
	return &emptypb.Empty{}, nil
}

// CloseIO closes a process's stdin.
func (s *Service) CloseIO(ctx context.Context, r *taskAPI.CloseIORequest) (*emptypb.Empty, error) {
	p, c, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if r.Stdin {
		if err := p.host.CloseStdin(ctx); err != nil {
			return nil, errgrpc.ToGRPC(fmt.Errorf("close stdin of %s: %w", c.name(r.ExecID), err))
		}
	}
	return &emptypb.Empty{}, nil
}

// process looks up a process of a task without holding any lock afterwards.
func (s *Service) process(id, execID string) (*process, *container, error) {
	c, err := s.get(id)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.process(execID)
	if err != nil {
		return nil, nil, err
	}
	if p.state == stateDeleted {
		return nil, nil, fmt.Errorf("%s: %w", c.name(execID), errdefs.ErrNotFound)
	}
	return p, c, nil
}

// Update changes a running task's resource limits.
func (s *Service) Update(ctx context.Context, r *taskAPI.UpdateTaskRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if r.Resources == nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("update task %q: no resources: %w", r.ID, errdefs.ErrInvalidArgument))
	}
	if err := c.host.Update(ctx, r.Resources); err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("update task %q: %w", r.ID, err))
	}
	return &emptypb.Empty{}, nil
}

// Wait blocks until a process exits and returns its exit.
func (s *Service) Wait(ctx context.Context, r *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	p, _, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if err := p.wait(ctx); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	c, err := s.get(r.ID)
	if err != nil {
		// Deleted meanwhile; the exit recorded on the process still stands.
		return &taskAPI.WaitResponse{ExitStatus: uint32(p.exit.Status), ExitedAt: protobuf.ToTimestamp(p.exit.At)}, nil
	}
	c.mu.Lock()
	e := p.exit
	c.mu.Unlock()
	return &taskAPI.WaitResponse{ExitStatus: uint32(e.Status), ExitedAt: protobuf.ToTimestamp(e.At)}, nil
}

// Stats returns a task's metrics.
func (s *Service) Stats(ctx context.Context, r *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	st, err := c.host.Stats(ctx)
	if err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("stats of task %q: %w", r.ID, err))
	}
	return &taskAPI.StatsResponse{Stats: st}, nil
}

// Connect reports the shim's and the task's pids.
func (s *Service) Connect(ctx context.Context, r *taskAPI.ConnectRequest) (*taskAPI.ConnectResponse, error) {
	resp := &taskAPI.ConnectResponse{ShimPid: uint32(os.Getpid())}
	if c, err := s.get(r.ID); err == nil {
		c.mu.Lock()
		resp.TaskPid = uint32(c.init.pid)
		c.mu.Unlock()
	}
	return resp, nil
}

// Shutdown ends the shim once no task remains; while any remains it does
// nothing, because other tasks of the pod still need this shim. A delete
// still under way (a slow unmount outlasting containerd's timeout, whose
// retry then found the task gone) does not count: the shutdown is owed
// and happens when that delete ends, or the shim would outlive its pod.
func (s *Service) Shutdown(ctx context.Context, r *taskAPI.ShutdownRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	if len(s.containers) > 0 || s.sandbox != nil {
		if s.sandbox == nil && len(s.deleting) == len(s.containers) {
			s.shutdownOwed = true
		}
		s.mu.Unlock()
		return &emptypb.Empty{}, nil
	}
	s.mu.Unlock()
	s.end(ctx)
	return &emptypb.Empty{}, nil
}

// deleted forgets a delete under way, whether it succeeded or not, and
// ends the shim if a Shutdown is owed and nothing is left.
func (s *Service) deleted(ctx context.Context, id string) {
	s.mu.Lock()
	delete(s.deleting, id)
	owed := s.shutdownOwed && len(s.containers) == 0 && s.sandbox == nil
	s.mu.Unlock()
	if owed {
		log.G(ctx).Info("a delete that outlasted containerd's wait ended; ending the shim it asked to end")
		s.end(ctx)
	}
}

// end closes the pod's Host and ends the shim.
func (s *Service) end(ctx context.Context) {
	s.mu.Lock()
	h := s.host
	s.host = nil
	s.mu.Unlock()
	faultpoint.Reach("shutdown")
	if h != nil {
		if err := h.Close(ctx); err != nil {
			log.G(ctx).WithError(err).Error("close host")
		}
	}
	s.shutdown.Shutdown()
}
