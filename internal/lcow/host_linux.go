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

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/bundlestate"
	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/faultpoint"
	"github.com/winctr/winctr/internal/layers"
	"github.com/winctr/winctr/internal/lcow/bootfiles"
	"github.com/winctr/winctr/internal/task/options"
	"github.com/winctr/winctr/internal/uvm"
	"github.com/winctr/winctr/internal/uvm/qemu"
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

// hostPlatform is what a Linux host's Host holds besides the VM: its state
// directory with the virtio-fs share, the pod's network and cgroup.
type hostPlatform struct {
	stateDir string
	shareDir string
	qemu     *qemu.VM
	net      *podNetwork // the pod's network, when CRI gave it one
	cg       *podCgroup  // the pod's host cgroup, holding the VM
	spare    *spareNIC   // a pooled VM's NIC, until a pod's network takes it
	// consoleLog keeps the guest console for `winctr logs`.
	consoleLog io.WriteCloser
}

// bootFor boots the VM for the pod's first container, in the pod's network
// and cgroup when its spec names them.
func (h *Host) bootFor(ctx context.Context, req *containerhost.ContainerRequest, g *guest) error {
	return h.startPod(ctx, req.Bundle, g.podNetNS, g.podCgroup)
}

// startPod boots the pod's VM in its network and cgroup; a VM booted
// ahead for a pool joins them instead.
func (h *Host) startPod(ctx context.Context, bundle, netns, cgroupPath string) error {
	if h.vm != nil {
		return h.join(ctx, bundle, netns, cgroupPath)
	}
	return h.boot(ctx, bundle, netns, cgroupPath)
}

// Prewarm boots the VM before any pod is known, for a warm pool: with a
// spare NIC that a pod's network can take later, and recorded in dir (the
// pool entry's) so that whoever finds the entry's shim dead removes the
// VM's directory. The pod's first container then joins it (bootFor).
func (h *Host) Prewarm(ctx context.Context, dir string) (retErr error) {
	spare, err := newSpareNIC()
	if err != nil {
		return err
	}
	h.spare = spare
	defer func() {
		if retErr != nil && h.spare != nil {
			h.spare.close()
			h.spare = nil
		}
	}()
	return h.boot(ctx, dir, "", "")
}

// SetConfig replaces the configuration the Host was made with: a pooled
// VM's Host takes its pod's, of the same VM size. Call it before the
// pod's first container.
func (h *Host) SetConfig(cfg *options.Config) { h.cfg = cfg }

// Exited is closed when the VM has stopped; nil before it booted.
func (h *Host) Exited() <-chan struct{} {
	if h.vm == nil {
		return nil
	}
	return h.vm.Exited()
}

// join gives a VM booted for a pool to its pod: the bundle records the
// VM, its processes move into the pod's cgroup, and the spare NIC's tap
// into the pod's network, whose MAC and addresses the guest then takes.
// On failure the VM is stopped, as a failed boot's would be.
func (h *Host) join(ctx context.Context, bundle, netns, cgroupPath string) (retErr error) {
	defer func() {
		if retErr != nil {
			h.Close(context.WithoutCancel(ctx))
			h.vm, h.client, h.agent, h.net, h.stateDir, h.qemu = nil, nil, nil, nil, "", nil
		}
	}()
	if err := h.qemu.Foreground(); err != nil {
		log.G(ctx).WithError(err).Warn("the pooled VM keeps a low CPU priority")
	}
	if err := h.record(bundle, ""); err != nil {
		return err
	}
	if cgroupPath != "" {
		h.placeInPodCgroup(ctx, h.qemu, cgroupPath)
		if err := h.record(bundle, ""); err != nil {
			return err
		}
	}
	if netns != "" {
		if h.spare == nil {
			return fmt.Errorf("the pooled VM has no NIC for the pod's network: %w", errdefs.ErrFailedPrecondition)
		}
		pn, err := adoptPodNetwork(netns, h.spare)
		if err != nil {
			return err
		}
		h.net = pn
		if _, err := h.agent.ConfigureNetwork(ctx, h.net.config); err != nil {
			return fmt.Errorf("configure the pod's network in the guest: %w", native(err))
		}
	}
	if h.spare != nil {
		h.spare.close()
		h.spare = nil
	}
	log.G(ctx).WithField("vm", filepath.Base(h.stateDir)).Info("pooled utility VM joined its pod")
	return nil
}

// boot starts the VM, with a network interface mirroring the pod's when
// netns is set, and waits until its agent answers. On failure nothing of
// it is left. From the moment the VM's directory exists, bundle records it
// (and the pod's cgroup once the VM is in it), so that the delete
// bootstrap finds them if the shim dies during the boot.
func (h *Host) boot(ctx context.Context, bundle, netns, cgroupPath string) (retErr error) {
	cfg := h.cfg
	boot := cfg.BootFilesRootPath
	if boot == "" {
		boot = DefaultBootFiles
	}
	if err := bootmanifest.CheckAgent(boot, agent.ProtocolVersion); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(StateRoot, h.ns), 0o700); err != nil {
		return err
	}
	stateDir, err := os.MkdirTemp(filepath.Join(StateRoot, h.ns), "vm-")
	if err != nil {
		return err
	}
	h.stateDir, h.shareDir = stateDir, filepath.Join(stateDir, "share")
	if err := h.record(bundle, ""); err != nil {
		os.RemoveAll(stateDir)
		return err
	}
	defer func() {
		if retErr != nil {
			h.Close(context.WithoutCancel(ctx))
			h.vm, h.client, h.agent, h.net, h.stateDir, h.qemu = nil, nil, nil, nil, "", nil
		}
	}()
	if err := os.MkdirAll(h.shareDir, 0o711); err != nil {
		return err
	}
	var nics []uvm.NIC
	switch {
	case netns != "":
		if h.net, err = attachPodNetwork(netns); err != nil {
			return err
		}
		nics = append(nics, h.net.nic)
	case h.spare != nil:
		nics = append(nics, h.spare.nic)
	}
	faultpoint.Reach("vm-state-dir")
	logw := log.G(ctx).WithField("vm", filepath.Base(stateDir)).WriterLevel(log.DebugLevel)
	h.logw = logw
	h.consoleLog = h.openGuestLog(vmstate.ConsoleLog)
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	vm, err := qemu.Start(ctx, uvm.Config{
		ID:       filepath.Base(stateDir),
		StateDir: stateDir,
		Kernel:   filepath.Join(boot, bootfiles.KernelFile),
		Initrd:   filepath.Join(boot, bootfiles.InitrdFile),
		CPUs:     int(cfg.VMProcessorCount),
		MemoryMB: int(cfg.VMMemoryMB),
		ShareDir: h.shareDir,
		NICs:     nics,
		Console:  io.MultiWriter(h.console, logw, h.consoleLog),
		// A pool's VM boots behind the pods that run now.
		Background: h.spare != nil,
		Host: uvm.HostConfig{
			Hypervisor: cfg.VM.QEMUBinary, FileServer: cfg.VM.VirtiofsdBinary,
			KernelParams: cfg.VM.KernelParams, RequireAcceleration: cfg.VM.RequireKVM,
		},
	})
	if h.net != nil {
		h.net.closeTap() // QEMU has its own copy, or failed
	}
	if err != nil {
		return err
	}
	h.vm, h.qemu = vm, vm
	faultpoint.Reach("vm-started")
	if cgroupPath != "" {
		h.placeInPodCgroup(ctx, vm, cgroupPath)
		if err := h.record(bundle, ""); err != nil {
			return err
		}
	}
	resp, err := h.connect(ctx, log.G(ctx).WithField("vm", filepath.Base(stateDir)))
	if err != nil {
		return err
	}
	if _, err := h.agent.Mount(ctx, &agent.MountRequest{Type: "virtiofs", Source: "share", Target: guestShare}); err != nil {
		return fmt.Errorf("mount the pod's share in the guest: %w; console tail:\n%s", native(err), h.console.String())
	}
	if h.net != nil {
		if _, err := h.agent.ConfigureNetwork(ctx, h.net.config); err != nil {
			return fmt.Errorf("configure the pod's network in the guest: %w", native(err))
		}
	}
	faultpoint.Reach("vm-ready")
	log.G(ctx).WithField("kernel", resp.KernelRelease).WithField("uptime_ms", resp.UptimeMs).Info("utility VM ready")
	return nil
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

// placeInPodCgroup moves the VM's processes into the pod's host cgroup.
// A pod without it still runs; only the host's view of its cost is lost.
func (h *Host) placeInPodCgroup(ctx context.Context, vm *qemu.VM, path string) {
	cg, err := newPodCgroup(path)
	if err != nil {
		log.G(ctx).WithError(err).Warn("the VM stays outside the pod's cgroup")
		return
	}
	h.cg = cg
	for _, pid := range vm.Pids() {
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

// record writes to bundle, for the delete bootstrap, the VM's directory,
// the pod's cgroup and the container's rootfs in the share ("" for none).
// A bundle of "" (a pod without one) records nothing.
func (h *Host) record(bundle, rootfs string) error {
	if bundle == "" {
		return nil
	}
	return bundlestate.Write(bundle, stateFile, state{Rootfs: rootfs, VMDir: h.stateDir, PodCgroup: h.podCgroupPath()})
}

// attachRootfs mounts the container's rootfs and binds its mounts into the
// VM's share, and records them in the bundle for the delete bootstrap.
func (h *Host) attachRootfs(ctx context.Context, req *containerhost.ContainerRequest, g *guest) (func(context.Context) error, error) {
	dir := filepath.Join(h.shareDir, req.ID)
	rootfs, err := layers.MountRootfs(filepath.Join(dir, "rootfs"), req.Rootfs)
	if err != nil {
		return nil, err
	}
	release := func(context.Context) error { return removeContainerDir(dir) }
	if err := bindIntoShare(dir, g.binds); err != nil {
		return nil, errors.Join(err, release(ctx))
	}
	if err := h.record(req.Bundle, rootfs); err != nil {
		return nil, errors.Join(err, release(ctx))
	}
	return release, nil
}

// powerOff does nothing: the driver's Stop (QMP quit) ends the VM at once,
// and nothing in the guest outlives its pod (the containers are gone, the
// share's files are the host's). A guest powering itself off took most
// of a second under emulation, which every `ctr run --rm` waited for.
func (h *Host) powerOff(context.Context) {}

// closePlatform releases the pod's network, its cgroup and the VM's state
// directory.
func (h *Host) closePlatform(ctx context.Context) []error {
	var errs []error
	if h.net != nil {
		errs = append(errs, h.net.detach())
	}
	if h.cg != nil {
		errs = append(errs, h.cg.delete())
		h.cg = nil
	}
	if h.spare != nil {
		h.spare.close()
		h.spare = nil
	}
	if h.consoleLog != nil {
		h.consoleLog.Close()
		h.consoleLog = nil
	}
	if h.stateDir != "" {
		errs = append(errs, os.RemoveAll(h.stateDir))
	}
	return errs
}
