//go:build linux

package runchost

import (
	"context"
	"errors"
	"fmt"
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
	s := state{Namespace: ns, RuncBinary: runc.DefaultCommand, RuncRoot: filepath.Join(DefaultRoot, ns)}
	if found, err := bundlestate.Read(bundle, stateFile, &s); err != nil {
		if !found {
			return 0, err
		}
		log.G(ctx).WithError(err).Warn("unreadable shim state; using defaults")
	}
	r := &runc.Runc{Command: s.RuncBinary, Root: s.RuncRoot, PdeathSignal: syscall.SIGKILL}
	var errs []error
	if err := r.Delete(ctx, id, &runc.DeleteOpts{Force: true}); err != nil && !isNotExist(err) {
		errs = append(errs, fmt.Errorf("runc delete: %w", err))
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
