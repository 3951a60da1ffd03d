package layers

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WindowsLayerMount is the mount type containerd's Windows snapshotter
// gives a container's rootfs: Source is the scratch layer's folder, and
// the parentLayerPaths option lists the read-only layers, topmost first.
const WindowsLayerMount = "windows-layer"

// LCOWLayerMount is the mount type of containerd's LCOW snapshotter, which
// a Linux container on a Windows host gets: the same folders, each read-only
// layer holding layer.vhd (ext4) and the scratch sandbox.vhdx.
const LCOWLayerMount = "lcow-layer"

const parentLayerPathsOption = "parentLayerPaths="

// WindowsLayers is a Windows container's image as folders.
type WindowsLayers struct {
	// Scratch is the container's writable layer folder (sandbox.vhdx in it).
	Scratch string
	// Parents are the read-only layer folders, topmost first; the last is
	// the base layer, which holds the UtilityVM folder of Hyper-V images.
	Parents []string
}

// UtilityVMPath is the base layer's UtilityVM folder.
func (l WindowsLayers) UtilityVMPath() string {
	if len(l.Parents) == 0 {
		return ""
	}
	return strings.TrimRight(l.Parents[len(l.Parents)-1], `\`) + `\UtilityVM`
}

// WindowsLayersOf finds a Windows container's layers in what containerd
// sent: its one windows-layer rootfs mount, or else the spec's
// windows.layerFolders (scratch last), as older clients send them.
func WindowsLayersOf(rootfs []*types.Mount, spec *specs.Spec) (WindowsLayers, error) {
	return layersOf(WindowsLayerMount, rootfs, spec)
}

// LCOWLayersOf finds a Linux container's layers on a Windows host: its one
// lcow-layer rootfs mount, or the spec's windows.layerFolders.
func LCOWLayersOf(rootfs []*types.Mount, spec *specs.Spec) (WindowsLayers, error) {
	return layersOf(LCOWLayerMount, rootfs, spec)
}

// LayerVHDs are the read-only layers' disks of a Linux container, topmost
// first.
func (l WindowsLayers) LayerVHDs() []string {
	var out []string
	for _, p := range l.Parents {
		out = append(out, strings.TrimRight(p, `\`)+`\layer.vhd`)
	}
	return out
}

// ScratchDisk is the scratch layer's virtual disk: what a utility VM gets
// on SCSI for the container's writes.
func (l WindowsLayers) ScratchDisk() string {
	return strings.TrimRight(l.Scratch, `\`) + `\sandbox.vhdx`
}

func layersOf(mountType string, rootfs []*types.Mount, spec *specs.Spec) (WindowsLayers, error) {
	if len(rootfs) > 1 {
		return WindowsLayers{}, fmt.Errorf("%d rootfs mounts: want one %s mount: %w", len(rootfs), mountType, errdefs.ErrInvalidArgument)
	}
	if len(rootfs) == 1 {
		m := rootfs[0]
		if m.GetType() != mountType {
			return WindowsLayers{}, fmt.Errorf("rootfs mount type %q: want a %s mount: %w", m.GetType(), mountType, errdefs.ErrInvalidArgument)
		}
		l := WindowsLayers{Scratch: m.GetSource()}
		for _, o := range m.GetOptions() {
			if v, ok := strings.CutPrefix(o, parentLayerPathsOption); ok {
				if err := json.Unmarshal([]byte(v), &l.Parents); err != nil {
					return WindowsLayers{}, fmt.Errorf("rootfs mount option %s: %v: %w", parentLayerPathsOption, err, errdefs.ErrInvalidArgument)
				}
			}
		}
		return l, l.check()
	}
	if spec == nil || spec.Windows == nil || len(spec.Windows.LayerFolders) < 2 {
		return WindowsLayers{}, fmt.Errorf("no rootfs mount and no windows.layerFolders (scratch and at least one image layer): %w", errdefs.ErrInvalidArgument)
	}
	lf := spec.Windows.LayerFolders
	l := WindowsLayers{Scratch: lf[len(lf)-1], Parents: append([]string(nil), lf[:len(lf)-1]...)}
	return l, l.check()
}

func (l WindowsLayers) check() error {
	if l.Scratch == "" || len(l.Parents) == 0 {
		return fmt.Errorf("a Windows container needs a scratch and at least one image layer: %w", errdefs.ErrInvalidArgument)
	}
	for _, p := range append([]string{l.Scratch}, l.Parents...) {
		if !isAbsWindows(p) {
			return fmt.Errorf("layer folder %q is not an absolute Windows path: %w", p, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// isAbsWindows tells whether p is a drive-absolute (C:\...) or UNC/device
// (\\...) path; filepath.IsAbs cannot, off Windows.
func isAbsWindows(p string) bool {
	if strings.HasPrefix(p, `\\`) {
		return true
	}
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z'))
}
