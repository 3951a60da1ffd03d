package task

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	sandboxapi "github.com/containerd/containerd/api/runtime/sandbox/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/internal/cgstats"
	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/options"
)

// sandboxExitDelay is how long the shim stays after ShutdownSandbox
// answered.
const sandboxExitDelay = 200 * time.Millisecond

// Sandbox states as containerd's CRI reports them.
const (
	sandboxReady    = "SANDBOX_READY"
	sandboxNotReady = "SANDBOX_NOTREADY"
)

// podSandbox is the pod the Sandbox API created in this shim.
//
// Contract: CreateSandbox once, then StartSandbox once; StopSandbox ends
// the pod's namespace holder (its containers with it, as they share its
// PID namespace); WaitSandbox returns its exit; ShutdownSandbox releases
// the Host. A workload container may join the pod between Start and Stop.
type podSandbox struct {
	// req.Bundle also holds the pod's hostname, hosts and resolv.conf.
	req     containerhost.SandboxRequest
	created time.Time

	mu     sync.Mutex
	proc   containerhost.Process
	exited chan struct{}
	exit   containerhost.Exit
}

// sandboxService is the shim's Sandbox API, sharing the task service's
// pod (Host) and containers.
type sandboxService struct{ s *Service }

var _ sandboxapi.TTRPCSandboxService = sandboxService{}

func (ss sandboxService) CreateSandbox(ctx context.Context, r *sandboxapi.CreateSandboxRequest) (*sandboxapi.CreateSandboxResponse, error) {
	s := ss.s
	pod := &runtimeapi.PodSandboxConfig{}
	if a := r.GetOptions(); a != nil && strings.HasSuffix(a.GetTypeUrl(), "PodSandboxConfig") {
		if err := proto.Unmarshal(a.GetValue(), pod); err != nil {
			return nil, errgrpc.ToGRPC(fmt.Errorf("pod sandbox config: %v: %w", err, errdefs.ErrInvalidArgument))
		}
	}
	opts, err := options.Load(r.GetBundlePath())
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	annotations := map[string]string{}
	for k, v := range pod.GetAnnotations() {
		annotations[k] = v
	}
	for k, v := range r.GetAnnotations() {
		annotations[k] = v
	}
	cfg, err := options.Resolve(opts, annotations)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if err := refusePod(pod, cfg); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if err := writePodFiles(r.GetBundlePath(), pod); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sandbox != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("sandbox %q in a shim that runs %q: %w", r.GetSandboxID(), s.sandbox.req.ID, errdefs.ErrAlreadyExists))
	}
	if _, err := s.hostFor(ctx, cfg); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	s.sandbox = &podSandbox{
		created: time.Now(),
		exited:  make(chan struct{}),
		req: containerhost.SandboxRequest{
			ID:           r.GetSandboxID(),
			Bundle:       r.GetBundlePath(),
			NetNS:        r.GetNetnsPath(),
			Hostname:     pod.GetHostname(),
			CgroupParent: pod.GetLinux().GetCgroupParent(),
		},
	}
	return &sandboxapi.CreateSandboxResponse{}, nil
}

// empty reports whether the shim holds no pod, host or task.
func (s *Service) empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sandbox == nil && s.host == nil && len(s.containers) == 0
}

// sandboxFor returns the pod if id names it.
func (s *Service) sandboxFor(id string) (*podSandbox, containerhost.Host, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sandbox == nil || s.sandbox.req.ID != id {
		return nil, nil, fmt.Errorf("sandbox %q: %w", id, errdefs.ErrNotFound)
	}
	return s.sandbox, s.host, nil
}

func (ss sandboxService) StartSandbox(ctx context.Context, r *sandboxapi.StartSandboxRequest) (*sandboxapi.StartSandboxResponse, error) {
	sb, h, err := ss.s.sandboxFor(r.GetSandboxID())
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	sh, ok := h.(containerhost.SandboxHost)
	if !ok {
		return nil, errgrpc.ToGRPC(fmt.Errorf("this pod's host cannot hold a pod without a pause container: %w", errdefs.ErrNotImplemented))
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.proc != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("sandbox %q already started: %w", sb.req.ID, errdefs.ErrFailedPrecondition))
	}
	p, err := sh.StartSandbox(ctx, &sb.req)
	if err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("start sandbox %q: %w", sb.req.ID, err))
	}
	sb.proc = p
	go func() {
		e, err := p.Wait(context.Background())
		if err != nil {
			e = containerhost.Exit{Status: 255, At: time.Now()}
		}
		sb.exit = e
		close(sb.exited)
	}()
	return &sandboxapi.StartSandboxResponse{Pid: uint32(p.Pid()), CreatedAt: timestamppb.New(sb.created)}, nil
}

func (ss sandboxService) Platform(ctx context.Context, r *sandboxapi.PlatformRequest) (*sandboxapi.PlatformResponse, error) {
	if _, _, err := ss.s.sandboxFor(r.GetSandboxID()); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	ss.s.mu.Lock()
	cfg := ss.s.hostConfig
	ss.s.mu.Unlock()
	return &sandboxapi.PlatformResponse{Platform: &types.Platform{OS: cfg.OS, Architecture: cfg.Arch}}, nil
}

// StopSandbox ends the pod's namespace holder: SIGTERM, then SIGKILL when
// the timeout (default 10 s) passes.
func (ss sandboxService) StopSandbox(ctx context.Context, r *sandboxapi.StopSandboxRequest) (*sandboxapi.StopSandboxResponse, error) {
	sb, _, err := ss.s.sandboxFor(r.GetSandboxID())
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	sb.mu.Lock()
	p := sb.proc
	sb.mu.Unlock()
	if p == nil {
		return &sandboxapi.StopSandboxResponse{}, nil
	}
	timeout := time.Duration(r.GetTimeoutSecs()) * time.Second
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if err := p.Kill(ctx, syscall.SIGTERM, false); err != nil && !errdefs.IsNotFound(err) {
		return nil, errgrpc.ToGRPC(err)
	}
	select {
	case <-sb.exited:
	case <-time.After(timeout):
		if err := p.Kill(ctx, syscall.SIGKILL, false); err != nil && !errdefs.IsNotFound(err) {
			return nil, errgrpc.ToGRPC(err)
		}
		select {
		case <-sb.exited:
		case <-ctx.Done():
			return nil, errgrpc.ToGRPC(ctx.Err())
		}
	case <-ctx.Done():
		return nil, errgrpc.ToGRPC(ctx.Err())
	}
	return &sandboxapi.StopSandboxResponse{}, nil
}

func (ss sandboxService) WaitSandbox(ctx context.Context, r *sandboxapi.WaitSandboxRequest) (*sandboxapi.WaitSandboxResponse, error) {
	sb, _, err := ss.s.sandboxFor(r.GetSandboxID())
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	select {
	case <-sb.exited:
		return &sandboxapi.WaitSandboxResponse{ExitStatus: uint32(sb.exit.Status), ExitedAt: timestamppb.New(sb.exit.At)}, nil
	case <-ctx.Done():
		return nil, errgrpc.ToGRPC(ctx.Err())
	}
}

func (ss sandboxService) SandboxStatus(ctx context.Context, r *sandboxapi.SandboxStatusRequest) (*sandboxapi.SandboxStatusResponse, error) {
	sb, _, err := ss.s.sandboxFor(r.GetSandboxID())
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	resp := &sandboxapi.SandboxStatusResponse{SandboxID: sb.req.ID, State: sandboxNotReady, CreatedAt: timestamppb.New(sb.created)}
	sb.mu.Lock()
	if sb.proc != nil {
		resp.Pid = uint32(sb.proc.Pid())
		resp.State = sandboxReady
	}
	sb.mu.Unlock()
	select {
	case <-sb.exited:
		resp.State = sandboxNotReady
		resp.ExitedAt = timestamppb.New(sb.exit.At)
	default:
	}
	return resp, nil
}

func (ss sandboxService) PingSandbox(ctx context.Context, r *sandboxapi.PingRequest) (*sandboxapi.PingResponse, error) {
	if _, _, err := ss.s.sandboxFor(r.GetSandboxID()); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &sandboxapi.PingResponse{}, nil
}

// ShutdownSandbox ends the pod: its namespace holder, then its Host (the
// VM), then the shim when no task is left.
func (ss sandboxService) ShutdownSandbox(ctx context.Context, r *sandboxapi.ShutdownSandboxRequest) (*sandboxapi.ShutdownSandboxResponse, error) {
	s := ss.s
	sb, _, err := s.sandboxFor(r.GetSandboxID())
	if err != nil {
		// containerd shuts a sandbox down after its CreateSandbox failed
		// (a refused pod): a shim that never got a pod, a host or a task
		// ends, or it would outlive the pod it was started for.
		if errdefs.IsNotFound(err) && s.empty() {
			time.AfterFunc(sandboxExitDelay, s.shutdown.Shutdown)
			return &sandboxapi.ShutdownSandboxResponse{}, nil
		}
		return nil, errgrpc.ToGRPC(err)
	}
	sb.mu.Lock()
	p := sb.proc
	sb.mu.Unlock()
	if p != nil {
		if err := p.Delete(ctx); err != nil {
			log.G(ctx).WithError(err).Warn("end the pod's namespace holder")
		}
		select {
		case <-sb.exited:
		case <-time.After(10 * time.Second):
			log.G(ctx).Warn("the pod's namespace holder did not exit")
		}
	}
	s.mu.Lock()
	s.sandbox = nil
	last := len(s.containers) == 0
	var h containerhost.Host
	if last {
		h, s.host = s.host, nil
	}
	s.mu.Unlock()
	if h != nil {
		if err := h.Close(ctx); err != nil {
			log.G(ctx).WithError(err).Error("close the pod's host")
		}
	}
	if last {
		// containerd only closes its connection after this, so a shim of
		// the Sandbox API ends itself; shortly after answering, because
		// ending the shim closes the connection the answer travels on and
		// containerd does not take "closed" for success here.
		time.AfterFunc(sandboxExitDelay, s.shutdown.Shutdown)
	}
	return &sandboxapi.ShutdownSandboxResponse{}, nil
}

// SandboxMetrics reports the pod's cgroup on the host: its containers on
// the host kernel, or its VM's processes.
func (ss sandboxService) SandboxMetrics(ctx context.Context, r *sandboxapi.SandboxMetricsRequest) (*sandboxapi.SandboxMetricsResponse, error) {
	sb, _, err := ss.s.sandboxFor(r.GetSandboxID())
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	data, err := cgstats.AtPath(sb.req.CgroupParent)
	if err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("sandbox %q: %w", sb.req.ID, err))
	}
	return &sandboxapi.SandboxMetricsResponse{Metrics: &types.Metric{Timestamp: timestamppb.Now(), ID: r.GetSandboxID(), Data: data}}, nil
}

// UpdateSandbox accepts containerd's record of the sandbox; nothing of it
// changes a running pod here.
func (ss sandboxService) UpdateSandbox(ctx context.Context, r *sandboxapi.UpdateSandboxRequest) (*sandboxapi.UpdateSandboxResponse, error) {
	if _, _, err := ss.s.sandboxFor(r.GetSandboxID()); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return &sandboxapi.UpdateSandboxResponse{}, nil
}
