package lcow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/faultpoint"
	"github.com/winctr/winctr/internal/layers"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/portforward"
	"github.com/winctr/winctr/internal/uvm"
	"github.com/winctr/winctr/internal/uvmdriver/qemu"
	"github.com/winctr/winctr/internal/vmstate"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// DefaultBootFiles is where `make bootfiles` installs the kernel and initrd.
const DefaultBootFiles = "/usr/local/share/winctr/lcow"

// StateRoot holds each VM's sockets and shared directory.
const StateRoot = vmstate.Root

// guestShare is where the agent mounts the share (see cmd/winctr-gcs).
const guestShare = "/run/winctr/share"

// guestContainerDir is a container's directory in the guest: the share's
// <id> directory, which holds its rootfs and bind mounts.
func guestContainerDir(id string) string { return path.Join(guestShare, id) }

// qemuVM is a pod's utility VM on a Linux host: QEMU, its state directory
// with the virtio-fs share, the pod's network (a tap) and cgroup.
type qemuVM struct {
	ns      string
	cfg     *options.Config
	console *tail
	agent   agent.AgentService // once booted

	vm       *qemu.VM
	logw     io.Closer
	stateDir string
	shareDir string
	net      *podNetwork            // the pod's network, when CRI gave it one
	ports    *portforward.Forwarder // the pod network's loopback, carried to the guest
	cg       *podCgroup             // the pod's host cgroup, holding the VM
	spare    *spareNIC              // a pooled VM's NIC, until a pod's network takes it
	// consoleLog keeps the guest console for `winctr logs`.
	consoleLog io.WriteCloser
}

var _ podVM = (*qemuVM)(nil)

// newPodVM is the podVM of a Linux host: QEMU.
func newPodVM(ns string, cfg *options.Config, console *tail) podVM {
	return &qemuVM{ns: ns, cfg: cfg, console: console}
}

func (q *qemuVM) session() *uvm.Session {
	if q.vm == nil {
		return nil
	}
	return q.vm.Session()
}

func (q *qemuVM) exited() <-chan struct{} {
	if q.vm == nil {
		return nil
	}
	return q.vm.Exited()
}

// boot boots the pod's VM in its network and cgroup; a VM booted ahead
// for a pool joins them instead.
func (q *qemuVM) boot(ctx context.Context, pod podPlace, dial dialAgent, changed func() error) error {
	if q.vm != nil {
		return q.join(ctx, pod, changed)
	}
	return q.start(ctx, pod, dial, changed)
}

// failed stops and forgets a VM whose boot or join failed.
func (q *qemuVM) failed(ctx context.Context) {
	_ = q.close(context.WithoutCancel(ctx))
	q.vm, q.agent, q.net, q.stateDir = nil, nil, nil, ""
}

// join gives a VM booted for a pool to its pod: the bundle records the
// VM, its processes move into the pod's cgroup, and the spare NIC's tap
// into the pod's network, whose MAC and addresses the guest then takes.
// On failure the VM is stopped, as a failed boot's would be.
func (q *qemuVM) join(ctx context.Context, pod podPlace, changed func() error) (retErr error) {
	defer func() {
		if retErr != nil {
			q.failed(ctx)
		}
	}()
	if err := q.vm.Foreground(); err != nil {
		log.G(ctx).WithError(err).Warn("the pooled VM keeps a low CPU priority")
	}
	if err := changed(); err != nil {
		return err
	}
	if pod.cgroup != "" {
		q.placeInPodCgroup(ctx, pod.cgroup)
		if err := changed(); err != nil {
			return err
		}
	}
	if pod.netns != "" {
		if q.spare == nil {
			return fmt.Errorf("the pooled VM has no NIC for the pod's network: %w", errdefs.ErrFailedPrecondition)
		}
		pn, err := adoptPodNetwork(pod.netns, q.spare)
		if err != nil {
			return err
		}
		q.net = pn
		if _, err := q.agent.ConfigureNetwork(ctx, q.net.config); err != nil {
			return fmt.Errorf("configure the pod's network in the guest: %w", errgrpc.ToNative(err))
		}
		q.forwardPorts(ctx, pod.netns)
	}
	if q.spare != nil {
		q.spare.close()
		q.spare = nil
	}
	log.G(ctx).WithField("vm", filepath.Base(q.stateDir)).Info("pooled utility VM joined its pod")
	return nil
}

// start starts the VM, with a network interface mirroring the pod's when
// it has a network namespace, and waits until its agent answers. On
// failure nothing of it is left. From the moment the VM's directory
// exists, the bundle records it (and the pod's cgroup once the VM is in
// it), so that the delete bootstrap finds them if the shim dies during
// the boot.
func (q *qemuVM) start(ctx context.Context, pod podPlace, dial dialAgent, changed func() error) (retErr error) {
	cfg := q.cfg
	boot := cfg.BootFilesRootPath
	if boot == "" {
		boot = DefaultBootFiles
	}
	if err := bootmanifest.CheckAgent(boot, agent.ProtocolVersion); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(StateRoot, q.ns), 0o700); err != nil {
		return err
	}
	stateDir, err := os.MkdirTemp(filepath.Join(StateRoot, q.ns), "vm-")
	if err != nil {
		return err
	}
	q.stateDir, q.shareDir = stateDir, filepath.Join(stateDir, "share")
	if err := changed(); err != nil {
		os.RemoveAll(stateDir)
		q.stateDir = ""
		return err
	}
	defer func() {
		if retErr != nil {
			q.failed(ctx)
		}
	}()
	if err := os.MkdirAll(q.shareDir, 0o711); err != nil {
		return err
	}
	var nics []uvm.NIC
	switch {
	case pod.netns != "":
		if q.net, err = attachPodNetwork(pod.netns); err != nil {
			return err
		}
		nics = append(nics, q.net.nic)
	case q.spare != nil:
		nics = append(nics, q.spare.nic)
	}
	faultpoint.Reach("vm-state-dir")
	logger := log.G(ctx).WithField("vm", filepath.Base(stateDir))
	logw := logger.WriterLevel(log.DebugLevel)
	q.logw = logw
	q.consoleLog = q.openGuestLog(vmstate.ConsoleLog)
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	vm, err := qemu.Start(ctx, uvm.Config{
		ID:       filepath.Base(stateDir),
		StateDir: stateDir,
		Kernel:   filepath.Join(boot, bootmanifest.KernelFile),
		Initrd:   filepath.Join(boot, bootmanifest.InitrdFile),
		CPUs:     int(cfg.VMProcessorCount),
		MemoryMB: int(cfg.VMMemoryMB),
		ShareDir: q.shareDir,
		NICs:     nics,
		Console:  io.MultiWriter(q.console, logw, q.consoleLog),
		// A pool's VM boots behind the pods that run now.
		Background: q.spare != nil,
		Host: uvm.HostConfig{
			Hypervisor: cfg.VM.QEMUBinary, FileServer: cfg.VM.VirtiofsdBinary,
			KernelParams: cfg.VM.KernelParams, RequireAcceleration: cfg.VM.RequireKVM,
		},
	})
	if q.net != nil {
		q.net.closeTap() // QEMU has its own copy, or failed
	}
	if err != nil {
		return err
	}
	q.vm = vm
	faultpoint.Reach("vm-started")
	if pod.cgroup != "" {
		q.placeInPodCgroup(ctx, pod.cgroup)
		if err := changed(); err != nil {
			return err
		}
	}
	a, resp, err := dial(ctx, vm.Session(), logger)
	if err != nil {
		return err
	}
	q.agent = a
	if _, err := a.Mount(ctx, &agent.MountRequest{Type: "virtiofs", Source: "share", Target: guestShare}); err != nil {
		return fmt.Errorf("mount the pod's share in the guest: %w; console tail:\n%s", errgrpc.ToNative(err), q.console.String())
	}
	if q.net != nil {
		if _, err := a.ConfigureNetwork(ctx, q.net.config); err != nil {
			return fmt.Errorf("configure the pod's network in the guest: %w", errgrpc.ToNative(err))
		}
		q.forwardPorts(ctx, pod.netns)
	}
	faultpoint.Reach("vm-ready")
	logger.WithField("kernel", resp.KernelRelease).WithField("uptime_ms", resp.UptimeMs).Info("utility VM ready")
	return nil
}

// forwardPorts carries connections to the pod network's loopback on the
// host to the guest's (see internal/portforward), where CRI's
// port-forward looks for the pod's servers. Without it the pod still
// runs, as it would have before: only port-forward to it fails, and the
// shim's log says why.
func (q *qemuVM) forwardPorts(ctx context.Context, nsPath string) {
	logger := log.G(ctx).WithField("vm", filepath.Base(q.stateDir))
	f, err := portforward.Start(nsPath, q.vm.Session().OpenPort, logger)
	if err != nil {
		logger.WithError(err).Warn("port-forward to this pod will not connect")
		return
	}
	q.ports = f
}

// bindIntoShare binds each host source to <dir>/mounts/<index>, where the
// guest finds it through the share.
func bindIntoShare(dir string, binds map[int]bind) error {
	for i, b := range binds {
		src := b.source
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
		if err := mountBind(b, target); err != nil {
			return fmt.Errorf("bind %s into the VM share: %w", src, err)
		}
	}
	return nil
}

// mountBind binds b's source at target. The bind is made as a detached
// copy (open_tree) whose attributes are set before it is attached: the
// share propagates into virtiofsd's mount namespace, and a copy made
// there before a later remount would stay writable. The copy is a slave
// of the source: the host's later mounts and unmounts under the source
// reach it, and nothing done to it reaches the host's mounts.
func mountBind(b bind, target string) error {
	recursive := 0
	if b.recursive || b.recursiveReadOnly {
		recursive = unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, b.source, uint(unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|recursive))
	if err != nil {
		return fmt.Errorf("copy the mount (open_tree): %w", err)
	}
	defer unix.Close(fd)
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Propagation: unix.MS_SLAVE}); err != nil {
		return fmt.Errorf("make the copy a slave of the source: %w", err)
	}
	if b.readOnly || b.recursiveReadOnly {
		flags := unix.AT_EMPTY_PATH
		if b.recursiveReadOnly {
			flags |= unix.AT_RECURSIVE
		}
		if err := unix.MountSetattr(fd, "", uint(flags), &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return fmt.Errorf("make the copy read-only (mount_setattr, Linux 5.12 or later): %w", err)
		}
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach the copy (move_mount): %w", err)
	}
	return nil
}

// submountCheck returns a function that tells whether anything is
// mounted below a path on the host (when that cannot be told, it says
// so), for one container's binds: the host's mount table is read once,
// at the first question, however many binds ask.
func submountCheck() func(string) bool {
	table := sync.OnceValues(func() ([]*mountinfo.Info, error) { return mountinfo.GetMounts(nil) })
	return func(path string) bool {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return true
		}
		mounts, err := table()
		if err != nil {
			return true
		}
		below := strings.TrimSuffix(real, "/") + "/"
		for _, m := range mounts {
			if strings.HasPrefix(m.Mountpoint, below) {
				return true
			}
		}
		return false
	}
}

// removeContainerDir unmounts everything under a container's directory in
// the share and only then removes it: removing through a live bind mount
// would delete the host's files. The bind mounts are detached lazily
// first: virtiofsd may still hold files open in its copies of them, and a
// plain unmount would then fail and leave the host's source mounted here
// (its submounts busy to the host) until the pod ends.
func removeContainerDir(dir string) error {
	if err := mount.UnmountRecursive(filepath.Join(dir, "mounts"), unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount bind mounts in %s: %w", dir, err)
	}
	if err := layers.UnmountRootfs(dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// placeInPodCgroup moves the VM's processes into the pod's host cgroup.
// A pod without it still runs; only the host's view of its cost is lost.
func (q *qemuVM) placeInPodCgroup(ctx context.Context, path string) {
	cg, err := newPodCgroup(path)
	if err != nil {
		log.G(ctx).WithError(err).Warn("the VM stays outside the pod's cgroup")
		return
	}
	q.cg = cg
	for _, pid := range q.vm.Pids() {
		if err := cg.add(pid); err != nil {
			log.G(ctx).WithError(err).WithField("pid", pid).Warn("move a VM process into the pod's cgroup")
		}
	}
}

// record is the bundle's state: the VM's directory, the pod's cgroup and
// the container's rootfs in the share.
func (q *qemuVM) record(rootfs string) state {
	s := state{Rootfs: rootfs, VMDir: q.stateDir}
	if q.cg != nil {
		s.PodCgroup = q.cg.path
	}
	return s
}

// attachRootfs mounts the container's rootfs and binds its mounts into the
// VM's share.
func (q *qemuVM) attachRootfs(ctx context.Context, req *containerhost.ContainerRequest, g *guest) (string, func(context.Context) error, error) {
	dir := filepath.Join(q.shareDir, req.ID)
	rootfs, err := layers.MountRootfs(filepath.Join(dir, "rootfs"), req.Rootfs)
	if err != nil {
		return "", nil, err
	}
	release := func(context.Context) error { return removeContainerDir(dir) }
	if err := bindIntoShare(dir, g.binds); err != nil {
		return "", nil, errors.Join(err, release(ctx))
	}
	return rootfs, release, nil
}

func (q *qemuVM) stop(ctx context.Context) error {
	if q.vm == nil {
		return nil
	}
	return stopVM(ctx, q.vm)
}

// powerOff does nothing: the driver's Stop (QMP quit) ends the VM at once,
// and nothing in the guest outlives its pod (the containers are gone, the
// share's files are the host's). A guest powering itself off took most
// of a second under emulation, which every `ctr run --rm` waited for.
func (q *qemuVM) powerOff(context.Context) {}

// close stops the VM and releases the pod's network, its cgroup and the
// VM's state directory.
func (q *qemuVM) close(ctx context.Context) error {
	var errs []error
	if q.ports != nil {
		// Before the VM goes, so that a connection in flight ends with
		// its forwarder, not with a broken transport.
		errs = append(errs, q.ports.Close())
		q.ports = nil
	}
	errs = append(errs, q.stop(ctx))
	if q.net != nil {
		errs = append(errs, q.net.detach())
	}
	if q.cg != nil {
		errs = append(errs, q.cg.delete())
		q.cg = nil
	}
	if q.spare != nil {
		q.spare.close()
		q.spare = nil
	}
	if q.consoleLog != nil {
		q.consoleLog.Close()
		q.consoleLog = nil
	}
	if q.stateDir != "" {
		errs = append(errs, os.RemoveAll(q.stateDir))
	}
	if q.logw != nil {
		q.logw.Close()
	}
	return errors.Join(errs...)
}
