//go:build linux || windows

// Package lcow runs a pod's Linux containers inside one utility VM: the
// shim's side of winctr's guest agent, behind the task service's Host seam.
// The agent protocol, containers and processes are the same on every host;
// booting the VM and bringing containers' roots into it are per host OS
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

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/faultpoint"
	"github.com/winctr/winctr/internal/task/options"
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

// Host is one utility VM running a pod's containers.
type Host struct {
	ns      string
	cfg     *options.Config
	vm      guestVM
	client  *ttrpc.Client
	agent   agent.AgentService
	console *tail
	logw    io.Closer
	seq     atomic.Uint64
	// hasPod is set once the VM serves its pod's first container; a VM
	// booted ahead for a pool runs before that.
	hasPod bool

	mu    sync.Mutex
	inits map[int]string // guest pid of each container's init -> its id

	hostPlatform
}

var _ containerhost.Host = (*Host)(nil)

// New returns the Host of a pod's utility VM. The VM boots with the pod's
// first container, whose spec names the pod's network.
func New(ctx context.Context, ns string, cfg *options.Config) (*Host, error) {
	return &Host{ns: ns, cfg: cfg, console: newTail(8 << 10), inits: map[int]string{}}, nil
}

// connect opens the agent API on the booted VM and waits for the agent's
// first answer; the agent's own log then flows into the shim's.
func (h *Host) connect(ctx context.Context, logger *log.Entry) (*agent.PingResponse, error) {
	conn, err := h.vm.Session().OpenAPI()
	if err != nil {
		return nil, err
	}
	h.client = ttrpc.NewClient(conn, ttrpc.WithUnaryClientInterceptor(h.bounded))
	h.agent = agent.NewAgentClient(h.client)
	resp, err := h.agent.Ping(ctx, &agent.PingRequest{})
	if err != nil {
		return nil, fmt.Errorf("guest agent did not answer: %w; console tail:\n%s", err, h.console.String())
	}
	if logs, err := h.vm.Session().OpenLogs(); err == nil {
		go copyGuestLogs(logger, logs, h.agentLog())
	}
	return resp, nil
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
	g, err := guestSpec(req.Spec, guestContainerDir(req.ID), h.isPodPid)
	if err != nil {
		return nil, err
	}
	if !h.hasPod {
		if err := h.bootFor(ctx, req, g); err != nil {
			return nil, err
		}
		h.hasPod = true
	} else if g.podNetNS != "" {
		return nil, fmt.Errorf("a second pod sandbox in one utility VM: %w", errdefs.ErrInvalidArgument)
	}
	release, err := h.attachRootfs(ctx, req, g)
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
	faultpoint.Reach("vm-rootfs-attached")
	c := &container{h: h, id: req.ID, bundle: req.Bundle, release: release}
	p, stdioReq, err := h.newProcess(ctx, c, "", req.Stdio)
	if err != nil {
		return nil, err
	}
	resp, err := h.agent.CreateContainer(ctx, &agent.CreateContainerRequest{ContainerId: req.ID, SpecJson: g.spec, Stdio: stdioReq})
	if err != nil {
		p.release()
		return nil, fmt.Errorf("guest: %w", native(err))
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
	var errs []error
	if h.agent != nil && h.vm != nil && !h.gone() {
		h.powerOff(ctx)
	}
	if h.client != nil {
		h.client.Close()
	}
	if h.vm != nil {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		errs = append(errs, h.vm.Stop(sctx))
		cancel()
	}
	errs = append(errs, h.closePlatform(ctx)...)
	if h.logw != nil {
		h.logw.Close()
	}
	return errors.Join(errs...)
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

// native turns the agent's status errors back into errdefs errors.
func native(err error) error {
	if err == nil {
		return nil
	}
	return errgrpc.ToNative(err)
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
		s, err := h.vm.Session().OpenStdio(key, fd)
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
