//go:build linux || windows

// Package lcow runs a pod's Linux containers inside one utility VM: the
// shim's side of winctr's guest agent, behind the task service's Host seam.
// The Host is the agent's client, and the same on every host; below it a
// podVM boots the VM and brings containers' roots into it, per host OS
// (QEMU with virtio-fs on Linux, HCS with SCSI disks and 9p on Windows).
package lcow

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"

	"github.com/winctr/winctr/internal/bundlestate"
	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/faultpoint"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/uvm"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// bootTimeout bounds boot plus the agent's first answer; TCG boots take
// seconds, KVM boots a fraction of one.
const bootTimeout = 90 * time.Second

// guestVM is the utility VM under a Host, as the host OS's driver runs it.
type guestVM interface {
	// Session is the transport to the guest agent.
	Session() *uvm.Session
	// Exited is closed when the VM has stopped.
	Exited() <-chan struct{}
	// Stop stops the VM, forcibly if it does not go by itself.
	Stop(ctx context.Context) error
}

// stopVM stops a driver's VM, giving it a while to go by itself.
func stopVM(ctx context.Context, vm guestVM) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return vm.Stop(sctx)
}

// Host is the guest agent's client for one pod's utility VM: the pod's
// containers and processes, through the agent, in the VM its podVM runs.
type Host struct {
	ns      string
	cfg     *options.Config
	vm      podVM
	client  *ttrpc.Client
	agent   agent.AgentService
	console *tail
	seq     atomic.Uint64
	// hasPod is set once the VM serves its pod's first container; a VM
	// booted ahead for a pool runs before that.
	hasPod bool

	mu    sync.Mutex
	inits map[int]string // guest pid of each container's init -> its id
	// recorded is the state last written to each bundle: it is written
	// once per change.
	recorded map[string]state
}

var _ containerhost.Host = (*Host)(nil)

// New returns the Host of a pod's utility VM. The VM boots with the pod's
// first container, whose spec names the pod's network.
func New(ctx context.Context, ns string, cfg *options.Config) (*Host, error) {
	console := newTail(8 << 10)
	return &Host{ns: ns, cfg: cfg, vm: newPodVM(ns, cfg, console), console: console, inits: map[int]string{}, recorded: map[string]state{}}, nil
}

// dial opens the agent API on the booted VM's session and waits for the
// agent's first answer; the agent's own log then flows into the shim's.
func (h *Host) dial(ctx context.Context, s *uvm.Session, logger *log.Entry) (agent.AgentService, *agent.PingResponse, error) {
	conn, err := s.OpenAPI()
	if err != nil {
		return nil, nil, err
	}
	h.client = ttrpc.NewClient(conn, ttrpc.WithUnaryClientInterceptor(h.bounded))
	h.agent = agent.NewAgentClient(h.client)
	resp, err := h.agent.Ping(ctx, &agent.PingRequest{})
	if err != nil {
		return nil, nil, fmt.Errorf("guest agent did not answer: %w; console tail:\n%s", err, h.console.String())
	}
	if logs, err := s.OpenLogs(); err == nil {
		go copyGuestLogs(logger, logs, h.agentLog())
	}
	return h.agent, resp, nil
}

// startPod boots the pod's VM (or gives it the one booted ahead for a
// pool); on failure the agent client goes with the VM.
func (h *Host) startPod(ctx context.Context, pod podPlace) error {
	if err := h.vm.boot(ctx, pod, h.dial, func() error { return h.record(pod.bundle, "") }); err != nil {
		h.dropClient()
		return err
	}
	return nil
}

// dropClient closes the agent client of a VM that is gone.
func (h *Host) dropClient() {
	if h.client != nil {
		h.client.Close()
	}
	h.client, h.agent = nil, nil
}

// record writes to bundle, for the delete bootstrap, the VM's state and
// the container's rootfs ("" for none), unless the bundle holds that
// already. A bundle of "" (a pod without one) records nothing.
func (h *Host) record(bundle, rootfs string) error {
	if bundle == "" {
		return nil
	}
	s := h.vm.record(rootfs)
	h.mu.Lock()
	last, ok := h.recorded[bundle]
	h.mu.Unlock()
	if ok && last == s {
		return nil
	}
	if err := bundlestate.Write(bundle, stateFile, s); err != nil {
		return err
	}
	h.mu.Lock()
	h.recorded[bundle] = s
	h.mu.Unlock()
	return nil
}

// forget removes bundle's state, its container deleted.
func (h *Host) forget(bundle string) error {
	h.mu.Lock()
	delete(h.recorded, bundle)
	h.mu.Unlock()
	return bundlestate.Remove(bundle, stateFile)
}

// longPolls are the agent calls that wait for an event (an exit, an OOM)
// rather than for an answer: no deadline fits them.
var longPolls = map[string]bool{
	"/winctr.agent.v1.Agent/WaitProcess": true,
	"/winctr.agent.v1.Agent/WaitOOM":     true,
}

// errAgentTimeout marks a call the guest agent did not answer in time: the
// VM is frozen or the agent hung.
var errAgentTimeout = errors.New("the guest agent did not answer")

// bounded gives every agent call that waits for an answer, and has no
// deadline of its own (the boot's first ping has one), the pod's agent
// timeout, so that a frozen VM or a hung agent turns into a clear deadline
// error instead of a call that never returns.
func (h *Host) bounded(ctx context.Context, req *ttrpc.Request, resp *ttrpc.Response, info *ttrpc.UnaryClientInfo, invoke ttrpc.Invoker) error {
	timeout := h.cfg.AgentTimeout
	if longPolls[info.FullMethod] || timeout <= 0 {
		return invoke(ctx, req, resp)
	}
	if _, ok := ctx.Deadline(); ok {
		return invoke(ctx, req, resp)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := invoke(cctx, req, resp)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w within %s (the VM is frozen or the agent hung): %w", info.FullMethod, errAgentTimeout, timeout, context.DeadlineExceeded)
	}
	return err
}

// CreateContainer brings the container's rootfs and mounts into the VM
// and asks the agent to create the container.
func (h *Host) CreateContainer(ctx context.Context, req *containerhost.ContainerRequest) (_ containerhost.Container, retErr error) {
	if len(req.Rootfs) == 0 {
		return nil, fmt.Errorf("a container in a utility VM needs its rootfs from containerd's snapshotter: %w", errdefs.ErrNotImplemented)
	}
	g, err := guestSpec(req.Spec, guestContainerDir(req.ID), h.isPodPid, submountCheck())
	if err != nil {
		return nil, err
	}
	if !h.hasPod {
		pod := podPlace{name: req.ID, bundle: req.Bundle, netns: g.podNetNS, cgroup: g.podCgroup, hnsNamespace: g.hnsNamespace}
		if err := h.startPod(ctx, pod); err != nil {
			return nil, err
		}
		h.hasPod = true
	} else if g.podNetNS != "" {
		return nil, fmt.Errorf("a second pod sandbox in one utility VM: %w", errdefs.ErrInvalidArgument)
	}
	rootfs, release, err := h.vm.attachRootfs(ctx, req, g)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			if err := release(context.WithoutCancel(ctx)); err != nil {
				log.G(ctx).WithError(err).Warn("clean up after failed create")
			}
		}
	}()
	if err := h.record(req.Bundle, rootfs); err != nil {
		return nil, err
	}
	faultpoint.Reach("vm-rootfs-attached")
	c := &container{h: h, id: req.ID, bundle: req.Bundle, release: release}
	p, stdioReq, err := h.newProcess(ctx, c, "", req.Stdio)
	if err != nil {
		return nil, err
	}
	resp, err := h.agent.CreateContainer(ctx, &agent.CreateContainerRequest{ContainerId: req.ID, SpecJson: g.spec, Stdio: stdioReq})
	if err != nil {
		p.release()
		return nil, fmt.Errorf("guest: %w", errgrpc.ToNative(err))
	}
	p.pid.Store(int64(resp.Pid))
	c.init = p
	h.mu.Lock()
	h.inits[int(resp.Pid)] = req.ID
	h.mu.Unlock()
	var oomCtx context.Context
	oomCtx, c.stopOOM = context.WithCancel(context.WithoutCancel(ctx))
	c.oom = make(chan struct{}, 1)
	go c.watchOOM(oomCtx)
	return c, nil
}

// Close powers the guest off where the platform wants that, stops the VM,
// then releases what the host side held for it.
func (h *Host) Close(ctx context.Context) error {
	if h.agent != nil && !h.gone() {
		h.vm.powerOff(ctx)
	}
	h.dropClient()
	return h.vm.close(ctx)
}

// copyGuestLogs puts the agent's log lines into the shim's log, and
// file, until the stream ends with the VM.
func copyGuestLogs(l *log.Entry, r io.ReadCloser, file io.WriteCloser) {
	defer r.Close()
	defer file.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.Info(sc.Text())
		_, _ = file.Write(append(sc.Bytes(), '\n'))
	}
}

// isPodPid tells whether pid is the guest pid of one of the pod's
// containers' init processes.
func (h *Host) isPodPid(pid int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.inits[pid]
	return ok
}

// newProcess opens containerd's side of a process's stdio and the
// streams to the guest for it.
func (h *Host) newProcess(ctx context.Context, c *container, execID string, cfg stdioConfig) (*process, *agent.Stdio, error) {
	pipes, err := openStdio(ctx, h.ns, c.id, cfg)
	if err != nil {
		return nil, nil, err
	}
	key := c.id + "/" + execID + "/" + strconv.FormatUint(h.seq.Add(1), 10)
	req := &agent.Stdio{Key: key, Stdin: pipes.HasStdin(), Stdout: true, Stderr: !cfg.Terminal, Terminal: cfg.Terminal}
	p := &process{h: h, c: c, execID: execID, pipes: pipes}
	var streams [3]net.Conn
	for fd, want := range []bool{req.Stdin, req.Stdout, req.Stderr} {
		if !want {
			continue
		}
		s, err := h.vm.session().OpenStdio(key, fd)
		if err != nil {
			p.streams = streams[:]
			p.release()
			return nil, nil, err
		}
		streams[fd] = s
	}
	p.streams = streams[:]
	var in io.WriteCloser
	if streams[0] != nil {
		in = streams[0]
	}
	var out, errr io.Reader
	if streams[1] != nil {
		out = streams[1]
	}
	if streams[2] != nil {
		errr = streams[2]
	}
	pipes.Attach(in, out, errr)
	return p, req, nil
}

// tail keeps the last bytes of the guest console for error messages.
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
