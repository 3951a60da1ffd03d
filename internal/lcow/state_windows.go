//go:build windows

package lcow

import (
	"context"
	"errors"

	"github.com/winctr/winctr/internal/bundlestate"
	"github.com/winctr/winctr/internal/hcs"
)

// stateFile records in a container's bundle which utility VM it ran in,
// for the delete bootstrap after a shim died.
const stateFile = "winctr-lcow.json"

type state struct {
	// VM is the utility VM's HCS id.
	VM string `json:"vm"`
}

// Cleanup undoes what a dead shim left of a Linux container on a Windows
// host: HCS stops a VM whose last handle closed, so this only makes sure
// of it and forgets the state. It reports whether the bundle belonged to
// such a container.
func Cleanup(ctx context.Context, bundle string) (bool, error) {
	var s state
	found, err := bundlestate.Read(bundle, stateFile, &s)
	if !found || err != nil {
		return found, err
	}
	var errs []error
	if s.VM != "" {
		errs = append(errs, hcs.TerminateByID(ctx, s.VM))
	}
	errs = append(errs, bundlestate.Remove(bundle, stateFile))
	return true, errors.Join(errs...)
}
