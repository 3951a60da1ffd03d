//go:build windows

package lcow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Microsoft/go-winio"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/layers"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/undo"
	"github.com/winctr/winctr/internal/uvm"
	uvmhcs "github.com/winctr/winctr/internal/uvmdriver/hcs"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// DefaultBootFiles is where the kernel and initrd are looked for on a
// Windows host: %ProgramFiles%\winctr\lcow.
var DefaultBootFiles = filepath.Join(os.Getenv("ProgramFiles"), "winctr", "lcow")

// Where the agent mounts things in the guest: each container's scratch,
// rootfs and bind mounts under guestContainers/<id>, image layers (shared
// by the pod's containers) under guestLayers/<lun>.
const (
	guestContainers = "/run/winctr/c"
	guestLayers     = "/run/winctr/l"
)

// guestContainerDir is a container's directory in the guest.
func guestContainerDir(id string) string { return path.Join(guestContainers, id) }

// consolePipeSDDL lets the VM's worker process (a member of "NT VIRTUAL
// MACHINE\Virtual Machines") connect the serial port to the shim's pipe.
const consolePipeSDDL = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;S-1-5-83-0)"

// hcsVM is a pod's utility VM on a Windows host: an HCS compute system,
// its SCSI LUNs, the image layers attached to it, the console pipe.
type hcsVM struct {
	ns      string
	cfg     *options.Config
	console *tail
	agent   agent.AgentService // once booted

	hvm         *uvmhcs.VM
	logw        io.Closer
	consolePipe net.Listener
	luns        *uvmhcs.LUNs // of the container disk controller

	mu     sync.Mutex
	layers map[string]*attachedLayer // layer.vhd -> where the guest has it
}

var _ podVM = (*hcsVM)(nil)

// newPodVM is the podVM of a Windows host: HCS.
func newPodVM(ns string, cfg *options.Config, console *tail) podVM {
	return &hcsVM{ns: ns, cfg: cfg, console: console}
}

func (h *hcsVM) session() *uvm.Session {
	if h.hvm == nil {
		return nil
	}
	return h.hvm.Session()
}

func (h *hcsVM) exited() <-chan struct{} {
	if h.hvm == nil {
		return nil
	}
	return h.hvm.Exited()
}

// gone tells whether the VM has died.
func (h *hcsVM) gone() bool {
	if h.hvm == nil {
		return false
	}
	select {
	case <-h.hvm.Exited():
		return true
	case <-h.hvm.Session().Done():
		return true
	default:
		return false
	}
}

// record is the bundle's state: the VM, which HCS stops once the shim's
// last handle to it closes; the rootfs is the VM's own.
func (h *hcsVM) record(string) state { return state{VM: h.hvm.ID()} }

// attachedLayer is an image layer disk attached to the VM and mounted by
// the guest, shared by the pod's containers.
type attachedLayer struct {
	lun   int32
	users int
}

// boot boots the pod's Linux utility VM through HCS for its first
// container. HCS ends the VM with the shim's last handle, so nothing needs
// recording before the container's own state.
func (h *hcsVM) boot(ctx context.Context, pod podPlace, dial dialAgent, _ func() error) (retErr error) {
	id := pod.name
	if pod.netns != "" {
		return fmt.Errorf("a Linux network namespace (%s) on a Windows host: %w", pod.netns, errdefs.ErrInvalidArgument)
	}
	boot := h.cfg.BootFilesRootPath
	if boot == "" {
		boot = DefaultBootFiles
	}
	if _, err := os.Stat(filepath.Join(boot, bootmanifest.InitrdFile)); err != nil {
		return fmt.Errorf("LCOW boot files in %s (copy the kernel and initrd.img that `make bootfiles` builds there): %w", boot, err)
	}
	direct := false
	if _, err := os.Stat(filepath.Join(boot, uvmhcs.LCOWKernelDirectFile)); err == nil {
		direct = true
	} else if _, err := os.Stat(filepath.Join(boot, bootmanifest.KernelFile)); err != nil {
		return fmt.Errorf("LCOW kernel in %s: %w", boot, err)
	}
	vmID := fmt.Sprintf("%s-%s@lcow", h.ns, id)
	logger := log.G(ctx).WithField("vm", vmID)
	logw := logger.WriterLevel(log.DebugLevel)
	h.logw = logw
	pipe := `\\.\pipe\winctr-` + strings.NewReplacer("@", "-", `\`, "-").Replace(vmID) + "-console"
	ln, err := winio.ListenPipe(pipe, &winio.PipeConfig{SecurityDescriptor: consolePipeSDDL})
	if err != nil {
		return fmt.Errorf("console pipe: %w", err)
	}
	h.consolePipe = ln
	go copyConsole(ln, io.MultiWriter(h.console, logw))
	defer func() {
		if retErr != nil {
			_ = h.close(context.WithoutCancel(ctx))
			h.hvm, h.agent = nil, nil
		}
	}()
	doc, err := uvmhcs.LCOWUtilityVM(uvmhcs.LCOWVM{
		Base:         uvmhcs.Base{MemoryMB: uint64(h.cfg.VMMemoryMB), CPUs: uint32(h.cfg.VMProcessorCount), ConsolePipe: pipe},
		BootFiles:    boot,
		KernelDirect: direct,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	hvm, err := uvmhcs.Start(ctx, vmID, doc)
	if err != nil {
		return err
	}
	h.hvm = hvm
	h.luns, h.layers = uvmhcs.NewLUNs(), map[string]*attachedLayer{}
	a, resp, err := dial(ctx, hvm.Session(), logger)
	if err != nil {
		return err
	}
	h.agent = a
	if pod.hnsNamespace != "" {
		if err := h.attachNetwork(ctx, pod.hnsNamespace); err != nil {
			return err
		}
	}
	logger.WithField("kernel", resp.KernelRelease).WithField("uptime_ms", resp.UptimeMs).Info("utility VM ready")
	return nil
}

// attachNetwork gives the VM an adapter per endpoint of the pod's HNS
// namespace and has the agent give each its endpoint's addresses and
// routes.
func (h *hcsVM) attachNetwork(ctx context.Context, ns string) error {
	eps, err := h.hvm.AttachNetwork(ctx, ns, false)
	if err != nil {
		return err
	}
	var docs [][]byte
	for _, ep := range eps {
		b, err := json.Marshal(ep)
		if err != nil {
			return err
		}
		docs = append(docs, b)
	}
	req, err := guestNetworkFromHNS(docs)
	if err != nil {
		return err
	}
	if _, err := h.agent.ConfigureNetwork(ctx, req); err != nil {
		return fmt.Errorf("configure the pod's network in the guest: %w", errgrpc.ToNative(err))
	}
	return nil
}

// copyConsole copies the VM's serial console (one connection from HCS)
// into w until the VM goes.
func copyConsole(ln net.Listener, w io.Writer) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = io.Copy(w, c)
}

// attachRootfs gives the container its root in the VM: each image layer's
// disk attached read-only (once per pod) and mounted, its scratch disk
// attached and mounted, an overlay of the two, and its bind mounts as 9p
// shares.
func (h *hcsVM) attachRootfs(ctx context.Context, req *containerhost.ContainerRequest, g *guest) (_ string, _ func(context.Context) error, retErr error) {
	l, err := layers.LCOWLayersOf(req.Rootfs, req.Spec)
	if err != nil {
		return "", nil, err
	}
	var steps undo.Stack
	defer func() {
		if retErr != nil {
			_ = steps.Run(context.WithoutCancel(ctx))
		}
	}()
	var lowers []string
	for _, vhd := range l.LayerVHDs() {
		dir, err := h.attachLayer(ctx, vhd)
		if err != nil {
			return "", nil, err
		}
		steps.Push(func(ctx context.Context) error { return h.detachLayer(ctx, vhd) })
		lowers = append(lowers, dir)
	}
	dir := guestContainerDir(req.ID)
	scratch := path.Join(dir, "scratch")
	detach, err := h.attachDisk(ctx, l.ScratchDisk(), scratch, false)
	if err != nil {
		return "", nil, err
	}
	steps.Push(detach)
	rootfs := path.Join(dir, "rootfs")
	if err := h.mount(ctx, "overlay", "overlay", rootfs, []string{
		"lowerdir=" + strings.Join(lowers, ":"),
		"upperdir=" + path.Join(scratch, "upper"),
		"workdir=" + path.Join(scratch, "work"),
	}); err != nil {
		return "", nil, err
	}
	steps.Push(func(ctx context.Context) error { return h.unmount(ctx, rootfs) })
	for i, b := range g.binds {
		u, err := h.shareBind(ctx, req.ID, i, b.source, b.readOnly || b.recursiveReadOnly)
		if err != nil {
			return "", nil, err
		}
		steps.Push(u)
	}
	return "", steps.Run, nil
}

// shareBind shares a bind mount's host directory with the guest over 9p
// and has the agent mount it where the guest spec expects it.
func (h *hcsVM) shareBind(ctx context.Context, id string, i int, src string, readOnly bool) (func(context.Context) error, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("bind mount source: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("bind mount of the file %s into a Linux container on a Windows host (directories only): %w", src, errdefs.ErrNotImplemented)
	}
	name := fmt.Sprintf("%s-m%d", id, i)
	if len(name) > 64 {
		name = name[len(name)-64:]
	}
	sys := h.hvm.System()
	if err := sys.Modify(ctx, uvmhcs.AddPlan9Share(name, src, readOnly, uvmhcs.CaseSensitiveDir(src))); err != nil {
		return nil, fmt.Errorf("share %s with the utility VM: %w", src, err)
	}
	target := path.Join(guestContainerDir(id), "mounts", strconv.Itoa(i))
	var opts []string
	if readOnly {
		opts = append(opts, "ro")
	}
	if err := h.mount(ctx, "9p", fmt.Sprintf("vsock:%d/%s", uvmhcs.Plan9Port, name), target, opts); err != nil {
		_ = sys.Modify(ctx, uvmhcs.RemovePlan9Share(name))
		return nil, err
	}
	return func(ctx context.Context) error {
		return errors.Join(h.unmount(ctx, target), sys.Modify(ctx, uvmhcs.RemovePlan9Share(name)))
	}, nil
}

// attachLayer attaches an image layer's disk read-only and mounts it in
// the guest, or counts one more user of a layer already there.
func (h *hcsVM) attachLayer(ctx context.Context, vhd string) (string, error) {
	h.mu.Lock()
	if a, ok := h.layers[vhd]; ok {
		a.users++
		h.mu.Unlock()
		return layerDir(a.lun), nil
	}
	h.mu.Unlock()
	lun, err := h.attach(ctx, vhd, true)
	if err != nil {
		return "", err
	}
	dir := layerDir(lun)
	if err := h.mount(ctx, "ext4", scsiSource(lun), dir, []string{"ro", "noload"}); err != nil {
		_ = h.detach(ctx, lun)
		return "", err
	}
	h.mu.Lock()
	h.layers[vhd] = &attachedLayer{lun: lun, users: 1}
	h.mu.Unlock()
	return dir, nil
}

// detachLayer undoes attachLayer for one user.
func (h *hcsVM) detachLayer(ctx context.Context, vhd string) error {
	h.mu.Lock()
	a, ok := h.layers[vhd]
	if !ok {
		h.mu.Unlock()
		return nil
	}
	if a.users--; a.users > 0 {
		h.mu.Unlock()
		return nil
	}
	delete(h.layers, vhd)
	h.mu.Unlock()
	return errors.Join(h.unmount(ctx, layerDir(a.lun)), h.detach(ctx, a.lun))
}

func layerDir(lun int32) string { return path.Join(guestLayers, strconv.Itoa(int(lun))) }

func scsiSource(lun int32) string { return fmt.Sprintf("scsi:%s/%d", uvm.SCSIControllerGUID, lun) }

// attachDisk attaches a disk and mounts it (ext4) on target in the guest.
func (h *hcsVM) attachDisk(ctx context.Context, vhd, target string, readOnly bool) (func(context.Context) error, error) {
	lun, err := h.attach(ctx, vhd, readOnly)
	if err != nil {
		return nil, err
	}
	if err := h.mount(ctx, "ext4", scsiSource(lun), target, nil); err != nil {
		_ = h.detach(ctx, lun)
		return nil, err
	}
	return func(ctx context.Context) error { return errors.Join(h.unmount(ctx, target), h.detach(ctx, lun)) }, nil
}

// attach hot-adds a disk at a free LUN of the VM's container disk
// controller, after letting the VM open it.
func (h *hcsVM) attach(ctx context.Context, vhd string, readOnly bool) (int32, error) {
	if err := grantDisk(hostDiskAccess{}, h.hvm.ID(), vhd, readOnly); err != nil {
		return 0, err
	}
	lun, err := h.luns.Take()
	if err != nil {
		return 0, err
	}
	if err := h.hvm.System().Modify(ctx, uvmhcs.AddSCSIDisk(vhd, lun, readOnly)); err != nil {
		h.luns.Free(lun)
		return 0, fmt.Errorf("attach %s to the utility VM: %w", vhd, err)
	}
	return lun, nil
}

func (h *hcsVM) detach(ctx context.Context, lun int32) error {
	err := h.hvm.System().Modify(ctx, uvmhcs.RemoveSCSIDisk(lun))
	if err == nil {
		h.luns.Free(lun)
	}
	return err
}

func (h *hcsVM) mount(ctx context.Context, typ, source, target string, opts []string) error {
	if _, err := h.agent.Mount(ctx, &agent.MountRequest{Type: typ, Source: source, Target: target, Options: opts}); err != nil {
		return fmt.Errorf("guest: %w", errgrpc.ToNative(err))
	}
	return nil
}

func (h *hcsVM) unmount(ctx context.Context, target string) error {
	if h.gone() {
		return nil
	}
	if _, err := h.agent.Unmount(ctx, &agent.UnmountRequest{Target: target}); err != nil {
		return fmt.Errorf("guest: %w", errgrpc.ToNative(err))
	}
	return nil
}

// powerOff asks the guest to power off and gives it a while to: HCS then
// finds the compute system stopped rather than terminating it.
func (h *hcsVM) powerOff(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := h.agent.Shutdown(sctx, &emptypb.Empty{}); err == nil {
		select {
		case <-h.hvm.Exited():
		case <-time.After(5 * time.Second):
		}
	}
}

func (h *hcsVM) stop(ctx context.Context) error {
	if h.hvm == nil {
		return nil
	}
	return stopVM(ctx, h.hvm)
}

// close stops the VM and closes the console pipe.
func (h *hcsVM) close(ctx context.Context) error {
	err := h.stop(ctx)
	if h.consolePipe != nil {
		h.consolePipe.Close()
		h.consolePipe = nil
	}
	if h.logw != nil {
		h.logw.Close()
	}
	return err
}

// submountCheck says no on Windows: a Plan9 share has no submounts the
// guest would see apart from the directory's.
func submountCheck() func(string) bool { return func(string) bool { return false } }
