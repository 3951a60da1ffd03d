//go:build linux

package runchost

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	runc "github.com/containerd/go-runc"
	"github.com/containerd/log"

	"github.com/winctr/winctr/internal/bundlestate"
	"github.com/winctr/winctr/internal/layers"
)

// stateFile records, in the bundle, what the delete bootstrap needs to clean
// up a container once its shim is gone: the shim's memory is lost then.
const stateFile = "winctr-runc.json"

type state struct {
	Namespace  string `json:"namespace"`
	RuncBinary string `json:"runc_binary"`
	RuncRoot   string `json:"runc_root"`
}

// Cleanup removes what a dead shim left of container id in bundle: the runc
// container (killing its processes) and the rootfs mount. It works from the
// files in the bundle alone and returns the init's pid when known.
func Cleanup(ctx context.Context, bundle, ns, id string) (int, error) {
	s := state{Namespace: ns, RuncBinary: DefaultBinary(), RuncRoot: filepath.Join(DefaultRoot, ns)}
	if found, err := bundlestate.Read(bundle, stateFile, &s); err != nil {
		if !found {
			return 0, err
		}
		log.G(ctx).WithError(err).Warn("unreadable shim state; using defaults")
	}
	var errs []error
	if err := forceDelete(ctx, s, id); err != nil {
		errs = append(errs, err)
	}
	if err := layers.UnmountRootfs(filepath.Join(bundle, "rootfs")); err != nil {
		errs = append(errs, err)
	}
	pid, err := runc.ReadPidFile(filepath.Join(bundle, initPidFile))
	if err != nil {
		pid = 0
	}
	if err := bundlestate.Remove(bundle, stateFile); err != nil {
		errs = append(errs, err)
	}
	return pid, errors.Join(errs...)
}

// forceDelete has runc delete container id, killing what is left of it,
// unless runc holds no state for it: the shim deleted it before it exited,
// as it does on every ordinary task delete. containerd waits for this
// bootstrap after every shim exit, and runc would only remove a directory
// that is not there, at the cost of a Go process start.
func forceDelete(ctx context.Context, s state, id string) error {
	if _, err := os.Lstat(filepath.Join(s.RuncRoot, id)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	r := &runc.Runc{Command: s.RuncBinary, Root: s.RuncRoot, PdeathSignal: syscall.SIGKILL}
	if err := r.Delete(ctx, id, &runc.DeleteOpts{Force: true}); err != nil && !isNotExist(err) {
		return fmt.Errorf("runc delete: %w", err)
	}
	return nil
}
