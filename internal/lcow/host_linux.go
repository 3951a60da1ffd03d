// Package lcow runs a pod's Linux containers inside one utility VM: the
// shim's side of winctr's guest agent, behind the task service's Host seam.
package lcow

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/winctr/winctr/internal/bundlestate"
	"github.com/winctr/winctr/internal/layers"
	"github.com/winctr/winctr/internal/lcow/bootfiles"
	"github.com/winctr/winctr/internal/task"
	"github.com/winctr/winctr/internal/task/options"
	"github.com/winctr/winctr/internal/uvm"
	"github.com/winctr/winctr/internal/uvm/qemu"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// DefaultBootFiles is where `make bootfiles` installs the kernel and initrd.
const DefaultBootFiles = "/usr/local/share/winctr/lcow"

// StateRoot holds each VM's sockets and shared directory.
const StateRoot = "/run/containerd/winctr/vm"

// guestShare is where the agent mounts the share (see cmd/winctr-gcs).
const guestShare = "/run/winctr/share"

// bootTimeout bounds boot plus the agent's first answer; TCG boots take
// seconds, KVM boots a fraction of one.
const bootTimeout = 90 * time.Second

// Host is one utility VM running a pod's containers.
type Host struct {
	ns       string
	cfg      *options.Config
	vm       *qemu.VM
	client   *ttrpc.Client
	agent    agent.AgentService
	stateDir string
	shareDir string
	console  *tail
	logw     io.Closer
	seq      atomic.Uint64

	mu    sync.Mutex
	inits map[int]string // guest pid of each container's init -> its id
	net   *podNetwork    // the pod's network, when CRI gave it one
	cg    *podCgroup     // the pod's host cgroup, holding the VM
}

var _ task.Host = (*Host)(nil)

// New returns the Host of a pod's utility VM. The VM boots with the pod's
// first container, whose spec names the pod's network.
func New(ctx context.Context, ns string, cfg *options.Config) (*Host, error) {
	return &Host{ns: ns, cfg: cfg, console: newTail(8 << 10), inits: map[int]string{}}, nil
}

// boot starts the VM, with a network interface mirroring the pod's when
// netns is set, and waits until its agent answers. On failure nothing of
// it is left.
func (h *Host) boot(ctx context.Context, netns, cgroupPath string) (retErr error) {
	cfg := h.cfg
	boot := cfg.BootFilesRootPath
	if boot == "" {
		boot = DefaultBootFiles
	}
	if err := os.MkdirAll(filepath.Join(StateRoot, h.ns), 0o700); err != nil {
		return err
	}
	stateDir, err := os.MkdirTemp(filepath.Join(StateRoot, h.ns), "vm-")
	if err != nil {
		return err
	}
	h.stateDir, h.shareDir = stateDir, filepath.Join(stateDir, "share")
	defer func() {
		if retErr != nil {
			h.Close(context.WithoutCancel(ctx))
			h.vm, h.client, h.agent, h.net, h.stateDir = nil, nil, nil, nil, ""
		}
	}()
	if err := os.MkdirAll(h.shareDir, 0o711); err != nil {
		return err
	}
	var nics []uvm.NIC
	if netns != "" {
		if h.net, err = attachPodNetwork(netns); err != nil {
			return err
		}
		nics = append(nics, h.net.nic)
	}
	logw := log.G(ctx).WithField("vm", filepath.Base(stateDir)).WriterLevel(log.DebugLevel)
	h.logw = logw
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	h.vm, err = qemu.Start(ctx, uvm.Config{
		ID:       filepath.Base(stateDir),
		StateDir: stateDir,
		Kernel:   filepath.Join(boot, bootfiles.KernelFile),
		Initrd:   filepath.Join(boot, bootfiles.InitrdFile),
		CPUs:     int(cfg.VMProcessorCount),
		MemoryMB: int(cfg.VMMemoryMB),
		ShareDir: h.shareDir,
		NICs:     nics,
		Console:  io.MultiWriter(h.console, logw),
	})
	if h.net != nil {
		h.net.closeTap() // QEMU has its own copy, or failed
	}
	if err != nil {
		return err
	}
	if cgroupPath != "" {
		h.placeInPodCgroup(ctx, cgroupPath)
	}
	conn, err := h.vm.Session().OpenAPI()
	if err != nil {
		return err
	}
	h.client = ttrpc.NewClient(conn)
	h.agent = agent.NewAgentClient(h.client)
	resp, err := h.agent.Ping(ctx, &agent.PingRequest{})
	if err != nil {
		return fmt.Errorf("guest agent did not answer: %w; console tail:\n%s", err, h.console.String())
	}
	if logs, err := h.vm.Session().OpenLogs(); err == nil {
		go copyGuestLogs(log.G(ctx).WithField("vm", filepath.Base(stateDir)), logs)
	}
	if _, err := h.agent.Mount(ctx, &agent.MountRequest{Type: "virtiofs", Source: "share", Target: guestShare}); err != nil {
		return fmt.Errorf("mount the pod's share in the guest: %w; console tail:\n%s", native(err), h.console.String())
	}
	if h.net != nil {
		if _, err := h.agent.ConfigureNetwork(ctx, h.net.config); err != nil {
			return fmt.Errorf("configure the pod's network in the guest: %w", native(err))
		}
	}
	log.G(ctx).WithField("kernel", resp.KernelRelease).WithField("uptime_ms", resp.UptimeMs).Info("utility VM ready")
	return nil
}

// copyGuestLogs puts the agent's log lines into the shim's log until the
// stream ends with the VM.
func copyGuestLogs(l *log.Entry, r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.Info(sc.Text())
	}
}

// Close stops the VM and removes its state.
func (h *Host) Close(ctx context.Context) error {
	var errs []error
	if h.agent != nil && h.vm != nil && !h.gone() {
		// A clean power-off first; Stop's QMP quit and kill remain for a
		// guest that does not go.
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		// Unmount the share first: the guest lets go of virtiofsd's files
		// before the power goes.
		if _, err := h.agent.Unmount(sctx, &agent.UnmountRequest{Target: guestShare}); err != nil {
			log.G(ctx).WithError(native(err)).Warn("unmount the share in the guest")
		}
		if _, err := h.agent.Shutdown(sctx, &emptypb.Empty{}); err == nil {
			select {
			case <-h.vm.Exited():
			case <-time.After(5 * time.Second):
			}
		}
		cancel()
	}
	if h.client != nil {
		h.client.Close()
	}
	if h.vm != nil {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		errs = append(errs, h.vm.Stop(sctx))
		cancel()
	}
	if h.net != nil {
		errs = append(errs, h.net.detach())
	}
	if h.cg != nil {
		errs = append(errs, h.cg.delete())
		h.cg = nil
	}
	if h.stateDir != "" {
		errs = append(errs, os.RemoveAll(h.stateDir))
	}
	if h.logw != nil {
		h.logw.Close()
	}
	return errors.Join(errs...)
}

// native turns the agent's status errors back into errdefs errors.
func native(err error) error {
	if err == nil {
		return nil
	}
	return errgrpc.ToNative(err)
}

// bindIntoShare binds each host source to <dir>/mounts/<index>, where the
// guest finds it through the share.
func bindIntoShare(dir string, binds map[int]string) error {
	for i, src := range binds {
		fi, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("bind mount source: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		target := filepath.Join(dir, "mounts", strconv.Itoa(i))
		if err := os.MkdirAll(filepath.Dir(target), 0o711); err != nil {
			return err
		}
		if fi.IsDir() {
			err = os.Mkdir(target, 0o755)
		} else {
			err = os.WriteFile(target, nil, 0o644)
		}
		if err != nil {
			return err
		}
		if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s into the VM share: %w", src, err)
		}
	}
	return nil
}

// removeContainerDir unmounts everything under a container's directory in
// the share and only then removes it: removing through a live bind mount
// would delete the host's files.
func removeContainerDir(dir string) error {
	if err := layers.UnmountRootfs(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

func hasOption(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// CreateContainer mounts the rootfs into the share and asks the agent to
// create the container.
func (h *Host) CreateContainer(ctx context.Context, req *task.ContainerRequest) (_ task.Container, retErr error) {
	if len(req.Rootfs) == 0 {
		return nil, fmt.Errorf("a container in a utility VM needs its rootfs from containerd's snapshotter: %w", errdefs.ErrNotImplemented)
	}
	g, err := guestSpec(req.Spec, req.ID, h.isPodPid)
	if err != nil {
		return nil, err
	}
	if h.vm == nil {
		if err := h.boot(ctx, g.podNetNS, g.podCgroup); err != nil {
			return nil, err
		}
	} else if g.podNetNS != "" {
		return nil, fmt.Errorf("a second pod sandbox in one utility VM: %w", errdefs.ErrInvalidArgument)
	}
	dir := filepath.Join(h.shareDir, req.ID)
	rootfs, err := layers.MountRootfs(filepath.Join(dir, "rootfs"), req.Rootfs)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			if err := removeContainerDir(dir); err != nil {
				log.G(ctx).WithError(err).Warn("clean up after failed create")
			}
		}
	}()
	if err := bindIntoShare(dir, g.binds); err != nil {
		return nil, err
	}
	if err := bundlestate.Write(req.Bundle, stateFile, state{Rootfs: rootfs, VMDir: h.stateDir, PodCgroup: h.podCgroupPath()}); err != nil {
		return nil, err
	}
	c := &container{h: h, id: req.ID, bundle: req.Bundle, rootfs: rootfs}
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

// placeInPodCgroup moves the VM's processes into the pod's host cgroup.
// A pod without it still runs; only the host's view of its cost is lost.
func (h *Host) placeInPodCgroup(ctx context.Context, path string) {
	cg, err := newPodCgroup(path)
	if err != nil {
		log.G(ctx).WithError(err).Warn("the VM stays outside the pod's cgroup")
		return
	}
	h.cg = cg
	for _, pid := range h.vm.Pids() {
		if err := cg.add(pid); err != nil {
			log.G(ctx).WithError(err).WithField("pid", pid).Warn("move a VM process into the pod's cgroup")
		}
	}
}

// podCgroupPath is the pod cgroup holding the VM, if it has one.
func (h *Host) podCgroupPath() string {
	if h.cg == nil {
		return ""
	}
	return h.cg.path
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
