package lcow

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/winctr/winctr/internal/bundlestate"
	"github.com/winctr/winctr/internal/uvmdriver/qemu"
)

// stateFile records in a container's bundle where its rootfs was mounted
// in the VM's share, for the delete bootstrap after a shim died.
const stateFile = "winctr-lcow.json"

type state struct {
	// Rootfs is the container's rootfs in the share; empty for a Sandbox
	// API pod's own state.
	Rootfs string `json:"rootfs"`
	// VMDir is the VM's state directory, removed with its last container.
	VMDir string `json:"vm_dir"`
	// PodCgroup is the pod's host cgroup that held the VM's processes,
	// removed with the VM's directory.
	PodCgroup string `json:"pod_cgroup,omitempty"`
}

// Cleanup undoes what a dead shim left of a VM container: its rootfs mount
// in the share. The VM itself died with the shim (parent-death signal).
// It reports whether the bundle belonged to a VM container.
func Cleanup(ctx context.Context, bundle string) (bool, error) {
	var s state
	found, err := bundlestate.Read(bundle, stateFile, &s)
	if !found || err != nil {
		return found, err
	}
	var errs []error
	if s.Rootfs != "" {
		errs = append(errs, removeContainerDir(filepath.Dir(s.Rootfs)))
	}
	errs = append(errs, bundlestate.Remove(bundle, stateFile))
	if s.VMDir != "" && qemu.OwnedByLiveShim(s.VMDir) {
		// Only this task's connection closed; the pod's shim, its VM and
		// its other containers live on, and the shim removes the VM.
		return true, errors.Join(errs...)
	}
	// The shim is gone, so nothing owns the VM any more.
	if s.VMDir != "" {
		qemu.KillLeftovers(s.VMDir)
	}
	// The VM died with its shim; the last of its containers to be cleaned
	// up takes the VM's directory (sockets, share) and the pod's cgroup
	// with it.
	if s.VMDir != "" {
		if entries, err := os.ReadDir(filepath.Join(s.VMDir, "share")); err == nil && len(entries) == 0 {
			errs = append(errs, os.RemoveAll(s.VMDir))
			if s.PodCgroup != "" {
				errs = append(errs, removePodCgroup(s.PodCgroup))
			}
		}
	}
	return true, errors.Join(errs...)
}
