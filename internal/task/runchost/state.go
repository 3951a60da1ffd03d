//go:build linux

package runchost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	runc "github.com/containerd/go-runc"
	"github.com/containerd/log"

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

func writeState(bundle string, s state) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := filepath.Join(bundle, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write shim state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(bundle, stateFile))
}

// Cleanup removes what a dead shim left of container id in bundle: the runc
// container (killing its processes) and the rootfs mount. It works from the
// files in the bundle alone and returns the init's pid when known.
func Cleanup(ctx context.Context, bundle, ns, id string) (int, error) {
	s := state{Namespace: ns, RuncBinary: runc.DefaultCommand, RuncRoot: filepath.Join(DefaultRoot, ns)}
	if b, err := os.ReadFile(filepath.Join(bundle, stateFile)); err == nil {
		if err := json.Unmarshal(b, &s); err != nil {
			log.G(ctx).WithError(err).Warn("unreadable shim state; using defaults")
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("read shim state: %w", err)
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
	if err := os.Remove(filepath.Join(bundle, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return pid, errors.Join(errs...)
}
