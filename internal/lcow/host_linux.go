// Package lcow runs a pod's Linux containers inside one utility VM: the
// shim's side of winctr's guest agent, behind the task service's Host seam.
package lcow

import (
	"context"
	"encoding/json"
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
	specs "github.com/opencontainers/runtime-spec/specs-go"

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
	vm       *qemu.VM
	client   *ttrpc.Client
	agent    agent.AgentService
	stateDir string
	shareDir string
	console  *tail
	logw     io.Closer
	seq      atomic.Uint64
}

var _ task.Host = (*Host)(nil)

// New boots a VM for a pod and waits until its agent answers.
func New(ctx context.Context, ns string, cfg *options.Config) (_ *Host, retErr error) {
	boot := cfg.BootFilesRootPath
	if boot == "" {
		boot = DefaultBootFiles
	}
	if err := os.MkdirAll(filepath.Join(StateRoot, ns), 0o700); err != nil {
		return nil, err
	}
	stateDir, err := os.MkdirTemp(filepath.Join(StateRoot, ns), "vm-")
	if err != nil {
		return nil, err
	}
	h := &Host{ns: ns, stateDir: stateDir, shareDir: filepath.Join(stateDir, "share"), console: newTail(8 << 10)}
	defer func() {
		if retErr != nil {
			h.Close(context.WithoutCancel(ctx))
		}
	}()
	if err := os.MkdirAll(h.shareDir, 0o711); err != nil {
		return nil, err
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
		Console:  io.MultiWriter(h.console, logw),
	})
	if err != nil {
		return nil, err
	}
	conn, err := h.vm.Session().OpenAPI()
	if err != nil {
		return nil, err
	}
	h.client = ttrpc.NewClient(conn)
	h.agent = agent.NewAgentClient(h.client)
	resp, err := h.agent.Ping(ctx, &agent.PingRequest{})
	if err != nil {
		return nil, fmt.Errorf("guest agent did not answer: %w; console tail:\n%s", err, h.console.String())
	}
	if !resp.ShareMounted {
		return nil, fmt.Errorf("guest could not mount the pod's share; console tail:\n%s", h.console.String())
	}
	log.G(ctx).WithField("kernel", resp.KernelRelease).WithField("uptime_ms", resp.UptimeMs).Info("utility VM ready")
	return h, nil
}

// Close stops the VM and removes its state.
func (h *Host) Close(ctx context.Context) error {
	var errs []error
	if h.client != nil {
		h.client.Close()
	}
	if h.vm != nil {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		errs = append(errs, h.vm.Stop(sctx))
		cancel()
	}
	errs = append(errs, os.RemoveAll(h.stateDir))
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

// guestSpec rewrites a container's spec for the guest: its root in the
// share. What cannot cross into the VM yet is refused, not ignored.
func guestSpec(spec *specs.Spec, id string) ([]byte, error) {
	s := *spec
	root := *spec.Root
	root.Path = filepath.Join(guestShare, id, "rootfs")
	s.Root = &root
	for _, m := range s.Mounts {
		if m.Type == "bind" || hasOption(m.Options, "bind") || hasOption(m.Options, "rbind") {
			return nil, fmt.Errorf("bind mount %s into a utility VM: %w", m.Destination, errdefs.ErrNotImplemented)
		}
	}
	if s.Linux != nil {
		for _, ns := range s.Linux.Namespaces {
			if ns.Path != "" {
				return nil, fmt.Errorf("joining the host's %s namespace from a utility VM: %w", ns.Type, errdefs.ErrInvalidArgument)
			}
		}
	}
	s.Hooks = nil
	return json.Marshal(&s)
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
	specJSON, err := guestSpec(req.Spec, req.ID)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(h.shareDir, req.ID)
	rootfs, err := layers.MountRootfs(filepath.Join(dir, "rootfs"), req.Rootfs)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			_ = layers.UnmountRootfs(rootfs)
			_ = os.RemoveAll(dir)
		}
	}()
	if err := writeState(req.Bundle, rootfs, h.stateDir); err != nil {
		return nil, err
	}
	c := &container{h: h, id: req.ID, bundle: req.Bundle, rootfs: rootfs}
	p, stdioReq, err := h.newProcess(ctx, c, "", req.Stdio)
	if err != nil {
		return nil, err
	}
	resp, err := h.agent.CreateContainer(ctx, &agent.CreateContainerRequest{ContainerId: req.ID, SpecJson: specJSON, Stdio: stdioReq})
	if err != nil {
		p.release()
		return nil, fmt.Errorf("guest: %w", native(err))
	}
	p.pid.Store(int64(resp.Pid))
	c.init = p
	return c, nil
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
