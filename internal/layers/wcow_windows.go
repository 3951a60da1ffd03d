//go:build windows

package layers

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/Microsoft/hcsshim"
	"github.com/containerd/log"

	"github.com/winctr/winctr/internal/hcs/schema"
)

func driverInfo(layer string) (hcsshim.DriverInfo, string) {
	return hcsshim.DriverInfo{HomeDir: filepath.Dir(layer)}, filepath.Base(layer)
}

// LayerIDs gives the read-only layers as HCS names them: the id of a layer
// is derived from its folder's name.
func (l WindowsLayers) LayerIDs() ([]schema.Layer, error) {
	out := make([]schema.Layer, 0, len(l.Parents))
	for _, p := range l.Parents {
		g, err := hcsshim.NameToGuid(filepath.Base(p))
		if err != nil {
			return nil, fmt.Errorf("layer id of %s: %w", p, err)
		}
		out = append(out, schema.Layer{Id: g.ToString(), Path: p})
	}
	return out, nil
}

// MountProcessIsolated activates the scratch layer over its parents and
// returns the volume path of the container's root, for a process-isolated
// container's Storage.Path. UnmountProcessIsolated undoes it.
func (l WindowsLayers) MountProcessIsolated(ctx context.Context) (_ string, retErr error) {
	info, id := driverInfo(l.Scratch)
	if err := hcshimCall("activate", l.Scratch, hcsshim.ActivateLayer(info, id)); err != nil {
		return "", err
	}
	defer func() {
		if retErr != nil {
			_ = hcsshim.DeactivateLayer(info, id)
		}
	}()
	if err := hcshimCall("prepare", l.Scratch, hcsshim.PrepareLayer(info, id, l.Parents)); err != nil {
		return "", err
	}
	defer func() {
		if retErr != nil {
			_ = hcsshim.UnprepareLayer(info, id)
		}
	}()
	path, err := hcsshim.GetLayerMountPath(info, id)
	if err != nil {
		return "", hcshimCall("find the volume of", l.Scratch, err)
	}
	log.G(ctx).WithField("volume", path).Debug("mounted Windows layers")
	return path, nil
}

// UnmountProcessIsolated undoes MountProcessIsolated; both steps are tried.
func (l WindowsLayers) UnmountProcessIsolated(ctx context.Context) error {
	info, id := driverInfo(l.Scratch)
	return errors.Join(
		hcshimCall("unprepare", l.Scratch, hcsshim.UnprepareLayer(info, id)),
		hcshimCall("deactivate", l.Scratch, hcsshim.DeactivateLayer(info, id)),
	)
}

func hcshimCall(what, layer string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s layer %s: %w", what, layer, err)
}
