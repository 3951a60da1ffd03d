package vmpool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// VM is the utility VM a pooled shim boots and keeps for its pod: the VM
// host of package lcow.
type VM interface {
	// Prewarm boots the VM, with dir as its working directory.
	Prewarm(ctx context.Context, dir string) error
	// Exited is closed when the VM has stopped.
	Exited() <-chan struct{}
	Close(ctx context.Context) error
}

// Waiter is the life of a shim started for the warm pool:
//
//   - booting: it boots the runtime's default VM (VM.Prewarm) in its
//     pool entry; if the boot fails, Run returns the error.
//   - waiting: the entry is marked ready; the shim waits for a start
//     bootstrap to claim it. If containerd exits or the VM dies meanwhile,
//     or the entry was claimed and no pod came, Run returns an error and
//     the shim stops the VM (Release) and exits.
//   - adopted: a start bootstrap hands it a pod (Adopt), and Adopted moves
//     the shim into the pod's bundle and log. From here it is the pod's
//     shim like any other, and the pod's first container joins the booted
//     VM (Hand gives it to the host factory).
type Waiter struct {
	// Entry is the pool entry's directory.
	Entry string
	// Adopted does the shim's part of taking a pod; an error refuses it
	// and the shim waits on.
	Adopted func(ctx context.Context, a Adoption) error
	// ContainerdGone is closed when the containerd that started the pool
	// exits: a waiting VM serves no one after that. Nil never closes.
	ContainerdGone <-chan struct{}
	// ClaimCheck is how often a waiting shim checks whether it was
	// claimed, ClaimGrace how long after that it waits for its pod:
	// DefaultClaimCheck and DefaultClaimGrace when zero.
	ClaimCheck, ClaimGrace time.Duration

	mu       sync.Mutex
	vm       VM
	shape    string
	adopted  bool
	handed   bool // the task service has the VM
	finished bool // the shim is going away unadopted
}

// A waiting shim checks every DefaultClaimCheck whether it was claimed,
// and leaves when no pod came for DefaultClaimGrace after that: a
// hand-over takes milliseconds.
const (
	DefaultClaimCheck = 5 * time.Second
	DefaultClaimGrace = 30 * time.Second
)

// Run boots vm, whose configuration shape names (what must be equal for
// it to serve a pod), and waits until the shim is adopted, or until the
// VM or containerd goes (an error: the shim then shuts down).
func (w *Waiter) Run(ctx context.Context, vm VM, shape string) error {
	ln, err := net.Listen("unix", filepath.Join(w.Entry, CtlSocket))
	if err != nil {
		return fmt.Errorf("pool control socket: %w", err)
	}
	start := time.Now()
	if err := vm.Prewarm(ctx, w.Entry); err != nil {
		ln.Close()
		return fmt.Errorf("boot a pooled VM: %w", err)
	}
	w.mu.Lock()
	w.vm, w.shape = vm, shape
	finished := w.finished
	w.mu.Unlock()
	if finished { // shut down during the boot; Release has run
		ln.Close()
		return vm.Close(context.WithoutCancel(ctx))
	}
	if err := MarkReady(w.Entry); err != nil {
		ln.Close()
		return err
	}
	log.G(ctx).WithField("boot_ms", time.Since(start).Milliseconds()).Info("pooled VM ready")

	adopted := make(chan error, 1)
	go func() {
		_, err := ServeAdoption(ln, func(a Adoption) error { return w.adopt(ctx, a) })
		adopted <- err
	}()
	check, grace := w.ClaimCheck, w.ClaimGrace
	if check == 0 {
		check = DefaultClaimCheck
	}
	if grace == 0 {
		grace = DefaultClaimGrace
	}
	tick := time.NewTicker(check)
	defer tick.Stop()
	var claimedAt time.Time
	for {
		select {
		case err := <-adopted:
			return err
		case <-vm.Exited():
			ln.Close()
			return errors.New("the pooled VM stopped")
		case <-w.ContainerdGone:
			ln.Close()
			// Adoption may have won the race.
			if err := <-adopted; err == nil {
				return nil
			}
			return errors.New("containerd exited")
		case <-tick.C:
			// Claimed (the entry renamed) but never handed a pod: the
			// claimer died in between, and no one else will take it.
			if _, err := os.Stat(w.Entry); err == nil {
				continue
			}
			if claimedAt.IsZero() {
				claimedAt = time.Now()
			} else if time.Since(claimedAt) > grace {
				ln.Close()
				if err := <-adopted; err == nil {
					return nil
				}
				return errors.New("claimed, but no pod came")
			}
		}
	}
}

// adopt makes the shim the pod's, once.
func (w *Waiter) adopt(ctx context.Context, a Adoption) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.adopted || w.finished || w.vm == nil {
		return fmt.Errorf("not waiting: %w", errdefs.ErrFailedPrecondition)
	}
	select {
	case <-w.vm.Exited():
		return fmt.Errorf("the pooled VM stopped: %w", errdefs.ErrUnavailable)
	default:
	}
	if w.Adopted != nil {
		if err := w.Adopted(ctx, a); err != nil {
			return err
		}
	}
	w.adopted = true
	log.G(ctx).WithField("task", a.TaskID).WithField("entry", filepath.Base(w.Entry)).Info("pooled shim adopted by its pod")
	return nil
}

// Hand gives the booted VM to the pod's first container, once, if the
// shim was adopted and the container's VM has shape; nil otherwise, and
// the caller builds a new one.
func (w *Waiter) Hand(shape string) VM {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.adopted || w.handed || shape != w.shape {
		return nil
	}
	w.handed = true
	return w.vm
}

// Release stops the VM of a shim that goes away without having handed it
// on (then its taker closes it), and removes the entry of one that was
// never adopted.
func (w *Waiter) Release(ctx context.Context) error {
	w.mu.Lock()
	vm, handed, adopted := w.vm, w.handed, w.adopted
	w.finished = true
	w.mu.Unlock()
	var errs []error
	if vm != nil && !handed {
		errs = append(errs, vm.Close(ctx))
	}
	if !adopted {
		errs = append(errs, RemoveEntry(w.Entry))
	}
	return errors.Join(errs...)
}
