package lcow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/winctr/winctr/internal/uvm/qemu"
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

func writeState(bundle string, s state) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, stateFile), b, 0o600); err != nil {
		return fmt.Errorf("write shim state: %w", err)
	}
	return nil
}

func removeState(bundle string) error {
	if err := os.Remove(filepath.Join(bundle, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Cleanup undoes what a dead shim left of a VM container: its rootfs mount
// in the share. The VM itself died with the shim (parent-death signal).
// It reports whether the bundle belonged to a VM container.
func Cleanup(ctx context.Context, bundle string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(bundle, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return true, err
	}
	// The shim is gone, so nothing owns the VM any more.
	if s.VMDir != "" {
		qemu.KillLeftovers(s.VMDir)
	}
	var errs []error
	if s.Rootfs != "" {
		errs = append(errs, removeContainerDir(filepath.Dir(s.Rootfs)))
	}
	errs = append(errs, removeState(bundle))
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
