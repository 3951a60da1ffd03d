//go:build windows

package wcow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/winctr/winctr/internal/bundlestate"
	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/hcs"
	"github.com/winctr/winctr/internal/hcs/schema"
	"github.com/winctr/winctr/internal/layers"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/stdio"
	"github.com/winctr/winctr/internal/undo"
	uvmhcs "github.com/winctr/winctr/internal/uvmdriver/hcs"
	"github.com/winctr/winctr/internal/wcow/hcsdoc"
)

// StateRoot holds each Windows utility VM's directory (its scratch disk).
func StateRoot() string {
	return filepath.Join(os.Getenv("ProgramData"), "winctr", "vm")
}

// Host runs one pod's Windows containers: on the host's kernel, or in one
// Windows utility VM that boots with the pod's first container.
type Host struct {
	ns     string
	cfg    *options.Config
	hyperv bool

	mu     sync.Mutex
	vm     *uvmhcs.VM
	vmDir  string
	luns   *uvmhcs.LUNs   // of SCSI controller 0; 0 is the VM's own scratch
	shares map[string]int // VSMB share name -> containers using it
}

var _ containerhost.Host = (*Host)(nil)

// New returns the Host of a pod of Windows containers.
func New(ctx context.Context, ns string, cfg *options.Config) (*Host, error) {
	return &Host{
		ns: ns, cfg: cfg,
		hyperv: cfg.Isolation == options.IsolationHypervisor,
		luns:   uvmhcs.NewLUNs(0),
		shares: map[string]int{},
	}, nil
}

// CreateContainer creates and starts the container's compute system; its
// init process is made at Start, as HCS has no created-but-not-started
// process.
func (h *Host) CreateContainer(ctx context.Context, req *containerhost.ContainerRequest) (_ containerhost.Container, retErr error) {
	spec := req.Spec
	if spec.Windows == nil {
		return nil, fmt.Errorf("a Windows container needs the spec's windows section: %w", errdefs.ErrInvalidArgument)
	}
	l, err := layers.WindowsLayersOf(req.Rootfs, spec)
	if err != nil {
		return nil, err
	}
	ids, err := l.LayerIDs()
	if err != nil {
		return nil, err
	}
	st := state{System: SystemID(req.Namespace, req.ID), Scratch: l.Scratch, Parents: l.Parents}
	ns, made, err := containerNamespace(spec.Windows.Network, hns{})
	if err != nil {
		return nil, err
	}
	if made {
		st.Namespace, spec = ns, withNamespace(spec, ns)
		defer func() {
			if retErr != nil {
				_ = hns{}.DeleteNamespace(ns)
			}
		}()
	}
	var doc *schema.ComputeSystem
	var release func(context.Context) error
	if !h.hyperv {
		vol, err := l.MountProcessIsolated(ctx)
		if err != nil {
			return nil, err
		}
		release = l.UnmountProcessIsolated
		doc, err = hcsdoc.ProcessIsolated(hcsdoc.Container{Spec: spec, Storage: hcsdoc.ContainerStorage{Layers: ids, Path: vol}, Processors: int32(runtime.NumCPU())})
		if err != nil {
			_ = release(ctx)
			return nil, err
		}
	} else {
		vm, err := h.ensureVM(ctx, st.System, l, spec)
		if err != nil {
			return nil, err
		}
		st.VM, st.VMDir = vm.ID(), h.vmDir
		var c hcsdoc.Container
		if c, release, err = h.attachStorage(ctx, vm, l, ids, spec); err != nil {
			return nil, err
		}
		if c.Processors = h.cfg.VMProcessorCount; c.Processors == 0 {
			c.Processors = uvmhcs.DefaultVMCPUs
		}
		if doc, err = hcsdoc.HyperVIsolated(c, vm.ID()); err != nil {
			_ = release(ctx)
			return nil, err
		}
	}
	defer func() {
		if retErr != nil {
			_ = release(context.WithoutCancel(ctx))
		}
	}()
	// The state goes first: a shim that dies from here on leaves enough
	// for the delete bootstrap.
	if err := bundlestate.Write(req.Bundle, stateFile, st); err != nil {
		return nil, err
	}
	sys, err := hcs.Create(ctx, st.System, doc)
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	if err := sys.Start(ctx); err != nil {
		_ = sys.Terminate(context.WithoutCancel(ctx))
		sys.Close()
		return nil, fmt.Errorf("start container: %w", err)
	}
	io, err := stdio.Open(ctx, req.Namespace, req.ID, req.Stdio)
	if err != nil {
		_ = sys.Terminate(context.WithoutCancel(ctx))
		sys.Close()
		return nil, err
	}
	c := &container{id: req.ID, bundle: req.Bundle, sys: sys, release: release, namespace: st.Namespace}
	c.init = newProcess(c, spec.Process, io)
	go c.watchInit()
	return c, nil
}

// ensureVM boots the pod's Windows utility VM from the image's UtilityVM
// folder, with a scratch disk of its own copied from the image's template.
func (h *Host) ensureVM(ctx context.Context, firstSystem string, l layers.WindowsLayers, spec *specs.Spec) (_ *uvmhcs.VM, retErr error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.vm != nil {
		return h.vm, nil
	}
	uvmPath := l.UtilityVMPath()
	if hv := spec.Windows.HyperV; hv != nil && hv.UtilityVMPath != "" {
		uvmPath = hv.UtilityVMPath
	}
	id := vmID(firstSystem)
	dir := filepath.Join(StateRoot(), h.ns, strings.NewReplacer("@", "-", `\`, "-", "/", "-").Replace(id))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(dir)
		}
	}()
	scratch := filepath.Join(dir, "sandbox.vhdx")
	if err := copyFile(filepath.Join(uvmPath, "SystemTemplate.vhdx"), scratch); err != nil {
		return nil, fmt.Errorf("utility VM scratch from the image's template: %w", err)
	}
	doc, err := uvmhcs.WCOWUtilityVM(uvmhcs.WCOWVM{
		Base:          uvmhcs.Base{MemoryMB: uint64(h.cfg.VMMemoryMB), CPUs: uint32(h.cfg.VMProcessorCount), Scratch: scratch},
		UtilityVMPath: uvmPath,
	})
	if err != nil {
		return nil, err
	}
	vm, err := uvmhcs.Start(ctx, id, doc, scratch)
	if err != nil {
		return nil, err
	}
	// The pod's network: the hosted containers join the namespace inside
	// the VM, whose adapters are the namespace's endpoints.
	if n := spec.Windows.Network; n != nil && n.NetworkNamespace != "" {
		if _, err := vm.AttachNetwork(ctx, n.NetworkNamespace, true); err != nil {
			_ = vm.Stop(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	h.vm, h.vmDir = vm, dir
	return vm, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// attachStorage gives a Hyper-V isolated container its root in the VM:
// the image layers as read-only VSMB shares (shared by the pod's
// containers), its scratch disk on SCSI mounted at C:\c\<lun>, the two
// combined by the guest, and its bind mounts as VSMB shares.
func (h *Host) attachStorage(ctx context.Context, vm *uvmhcs.VM, l layers.WindowsLayers, ids []schema.Layer, spec *specs.Spec) (_ hcsdoc.Container, _ func(context.Context) error, retErr error) {
	var steps undo.Stack
	defer func() {
		if retErr != nil {
			_ = steps.Run(context.WithoutCancel(ctx))
		}
	}()
	sys := vm.System()
	share := func(name, path string, readOnly bool) (string, error) {
		if err := h.addShare(ctx, sys, name, path, readOnly); err != nil {
			return "", err
		}
		steps.Push(func(ctx context.Context) error { return h.removeShare(ctx, sys, name) })
		return uvmhcs.VSMBGuestPath(name), nil
	}
	guestLayers := make([]schema.Layer, 0, len(ids))
	for _, id := range ids {
		p, err := share(id.Id, id.Path, true)
		if err != nil {
			return hcsdoc.Container{}, nil, err
		}
		guestLayers = append(guestLayers, schema.Layer{Id: id.Id, Path: p})
	}
	lun, err := h.luns.Take()
	if err != nil {
		return hcsdoc.Container{}, nil, err
	}
	steps.Push(func(context.Context) error { h.luns.Free(lun); return nil })
	root := uvmhcs.GuestContainerRoot(int(lun))
	disk := l.ScratchDisk()
	if err := hcs.GrantVMAccess(vm.ID(), disk); err != nil {
		return hcsdoc.Container{}, nil, err
	}
	if err := sys.Modify(ctx, uvmhcs.AddScratchDisk(disk, lun, root)); err != nil {
		return hcsdoc.Container{}, nil, fmt.Errorf("attach scratch %s: %w", disk, err)
	}
	steps.Push(func(ctx context.Context) error { return sys.Modify(ctx, uvmhcs.RemoveScratchDisk(lun, root)) })
	if err := sys.Modify(ctx, uvmhcs.CombineLayers(root, guestLayers, true)); err != nil {
		return hcsdoc.Container{}, nil, fmt.Errorf("combine layers at %s: %w", root, err)
	}
	steps.Push(func(ctx context.Context) error {
		return sys.Modify(ctx, uvmhcs.CombineLayers(root, guestLayers, false))
	})
	mounts := map[string]string{}
	for i, m := range spec.Mounts {
		if strings.HasPrefix(strings.ToLower(m.Source), `\\.\pipe\`) || m.Source == "" {
			continue // refused or mapped by the document builder
		}
		p, err := share(fmt.Sprintf("m%d-%d", lun, i), m.Source, false)
		if err != nil {
			return hcsdoc.Container{}, nil, err
		}
		mounts[m.Source] = p
	}
	return hcsdoc.Container{
		Spec:    spec,
		Storage: hcsdoc.ContainerStorage{Layers: guestLayers, Path: root},
		GuestPath: func(host string) (string, error) {
			if p, ok := mounts[host]; ok {
				return p, nil
			}
			return "", fmt.Errorf("not shared with the utility VM: %w", errdefs.ErrInvalidArgument)
		},
	}, steps.Run, nil
}

func (h *Host) addShare(ctx context.Context, sys *hcs.System, name, path string, readOnly bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shares[name] > 0 {
		h.shares[name]++
		return nil
	}
	if err := sys.Modify(ctx, uvmhcs.AddVSMBShare(name, path, readOnly)); err != nil {
		return fmt.Errorf("share %s with the utility VM: %w", path, err)
	}
	h.shares[name] = 1
	return nil
}

func (h *Host) removeShare(ctx context.Context, sys *hcs.System, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shares[name]--; h.shares[name] > 0 {
		return nil
	}
	delete(h.shares, name)
	return sys.Modify(ctx, uvmhcs.RemoveVSMBShare(name))
}

// Close stops the pod's utility VM, if it has one, and removes its
// directory.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	vm, dir := h.vm, h.vmDir
	h.vm, h.vmDir = nil, ""
	h.mu.Unlock()
	if vm == nil {
		return nil
	}
	err := vm.Stop(ctx)
	if rerr := os.RemoveAll(dir); rerr != nil {
		log.G(ctx).WithError(rerr).Warn("remove utility VM directory")
	}
	return err
}

// Cleanup undoes what a dead shim's container left, from its bundle: its
// compute system (and the pod's VM) if HCS still has them, and its layers.
// It reports false when the bundle holds no Windows container's state.
func Cleanup(ctx context.Context, bundle string) (bool, error) {
	var st state
	found, err := bundlestate.Read(bundle, stateFile, &st)
	if !found || err != nil {
		return found, err
	}
	var errs []error
	for _, id := range []string{st.System, st.VM} {
		if id != "" {
			errs = append(errs, hcs.TerminateByID(ctx, id))
		}
	}
	if st.VM == "" {
		errs = append(errs, layers.WindowsLayers{Scratch: st.Scratch, Parents: st.Parents}.UnmountProcessIsolated(ctx))
	} else if st.VMDir != "" {
		errs = append(errs, os.RemoveAll(st.VMDir))
	}
	if st.Namespace != "" {
		errs = append(errs, hns{}.DeleteNamespace(st.Namespace))
	}
	errs = append(errs, bundlestate.Remove(bundle, stateFile))
	return true, errors.Join(errs...)
}
