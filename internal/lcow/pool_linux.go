package lcow

import (
	"context"

	"github.com/winctr/winctr/internal/options"
)

// What a warm pool (internal/vmpool) needs of a VM pod's Host: a VM booted
// before its pod is known, given the pod's configuration when adopted.

// Prewarm boots the VM before any pod is known, for a warm pool: with a
// spare NIC that a pod's network can take later, and recorded in dir (the
// pool entry's) so that whoever finds the entry's shim dead removes the
// VM's directory. The pod's first container then joins it.
func (h *Host) Prewarm(ctx context.Context, dir string) (retErr error) {
	q := h.vm.(*qemuVM)
	spare, err := newSpareNIC()
	if err != nil {
		return err
	}
	q.spare = spare
	defer func() {
		if retErr != nil && q.spare != nil {
			q.spare.close()
			q.spare = nil
		}
	}()
	return h.startPod(ctx, podPlace{bundle: dir})
}

// SetConfig replaces the configuration the Host was made with: a pooled
// VM's Host takes its pod's, of the same VM size. Call it before the
// pod's first container.
func (h *Host) SetConfig(cfg *options.Config) {
	h.cfg = cfg
	h.vm.(*qemuVM).cfg = cfg
}

// Exited is closed when the VM has stopped; nil before it booted.
func (h *Host) Exited() <-chan struct{} { return h.vm.exited() }
