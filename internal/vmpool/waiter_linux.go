package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/lcow"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/task"
	"github.com/winctr/winctr/internal/vmpool"
)

// pooledShim is a shim started for the warm pool. Its life:
//
//   - booting: it boots the runtime's default VM (lcow.Host.Prewarm) in
//     its pool entry; if the boot fails it exits.
//   - waiting: the entry is marked ready; the shim waits for a start
//     bootstrap to claim it. If containerd exits or the VM dies meanwhile,
//     it stops the VM and exits, removing its entry.
//   - adopted: a start bootstrap hands it a pod (vmpool.Adopt): the shim
//     moves into the pod's bundle and log, and takes the pod's socket
//     address. From here it is the pod's shim like any other, and the pod's
//     first container joins the booted VM (the host factory gives it the
//     waiting Host).
type pooledShim struct {
	entry string
	sd    shutdown.Service

	mu       sync.Mutex
	host     *lcow.Host
	cfg      *options.Config
	adopted  bool
	handed   bool // the task service has the Host
	finished bool // the shim is going away unadopted
}

// pooledHostFactory is the host factory of a pooled shim, nil for any
// other shim. It starts the boot at once.
func pooledHostFactory(ctx context.Context, sd shutdown.Service, next task.HostFactory) task.HostFactory {
	entry := os.Getenv(poolEntryEnv)
	if entry == "" {
		return nil
	}
	p := &pooledShim{entry: entry, sd: sd}
	sd.RegisterCallback(p.release)
	go func() {
		if err := p.run(ctx); err != nil {
			log.G(ctx).WithError(err).Warn("pooled VM shim leaves")
			sd.Shutdown()
		}
	}()
	return func(ctx context.Context, cfg *options.Config) (containerhost.Host, error) {
		if h := p.hand(cfg); h != nil {
			return h, nil
		}
		return next(ctx, cfg)
	}
}

// run boots the VM and waits until the shim is adopted, or until the VM
// or containerd goes (an error: the shim then shuts down).
func (p *pooledShim) run(ctx context.Context) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	o, err := options.Load(p.entry)
	if err != nil {
		return err
	}
	cfg, err := defaultVMConfig(&optionsFromStart{opts: o})
	if err != nil {
		return err
	}
	h, err := lcow.New(ctx, ns, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("unix", filepath.Join(p.entry, vmpool.CtlSocket))
	if err != nil {
		return fmt.Errorf("pool control socket: %w", err)
	}
	start := time.Now()
	if err := h.Prewarm(ctx, p.entry); err != nil {
		ln.Close()
		return fmt.Errorf("boot a pooled VM: %w", err)
	}
	p.mu.Lock()
	p.host, p.cfg = h, cfg
	finished := p.finished
	p.mu.Unlock()
	if finished { // shut down during the boot; release has run
		ln.Close()
		return h.Close(context.WithoutCancel(ctx))
	}
	if err := vmpool.MarkReady(p.entry); err != nil {
		ln.Close()
		return err
	}
	log.G(ctx).WithField("boot_ms", time.Since(start).Milliseconds()).Info("pooled VM ready")

	adopted := make(chan error, 1)
	go func() {
		_, err := vmpool.ServeAdoption(ln, func(a vmpool.Adoption) error { return p.adopt(ctx, a) })
		adopted <- err
	}()
	gone := containerdGone(ctx)
	tick := time.NewTicker(claimCheck)
	defer tick.Stop()
	var claimedAt time.Time
	for {
		select {
		case err := <-adopted:
			return err
		case <-h.Exited():
			ln.Close()
			return errors.New("the pooled VM stopped")
		case <-gone:
			ln.Close()
			// Adoption may have won the race.
			if err := <-adopted; err == nil {
				return nil
			}
			return errors.New("containerd exited")
		case <-tick.C:
			// Claimed (the entry renamed) but never handed a pod: the
			// claimer died in between, and no one else will take it.
			if _, err := os.Stat(p.entry); err == nil {
				continue
			}
			if claimedAt.IsZero() {
				claimedAt = time.Now()
			} else if time.Since(claimedAt) > claimGrace {
				ln.Close()
				if err := <-adopted; err == nil {
					return nil
				}
				return errors.New("claimed, but no pod came")
			}
		}
	}
}

// A waiting shim checks every claimCheck whether it was claimed, and
// leaves when no pod came for claimGrace after that: a hand-over takes
// milliseconds.
const (
	claimCheck = 5 * time.Second
	claimGrace = 30 * time.Second
)

// adopt makes the shim the pod's: it works and logs in the pod's bundle
// from now on, and removes the pod's socket address when it exits.
func (p *pooledShim) adopt(ctx context.Context, a vmpool.Adoption) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.adopted || p.finished || p.host == nil {
		return fmt.Errorf("not waiting: %w", errdefs.ErrFailedPrecondition)
	}
	select {
	case <-p.host.Exited():
		return fmt.Errorf("the pooled VM stopped: %w", errdefs.ErrUnavailable)
	default:
	}
	if err := os.Chdir(a.Bundle); err != nil {
		return err
	}
	// As containerd's shim package does at start: the bundle's log fifo,
	// read by containerd, on stderr and under the logger.
	f, err := fifo.OpenFifoDup2(ctx, "log", unix.O_WRONLY, 0o700, int(os.Stderr.Fd()))
	if err != nil {
		return fmt.Errorf("the pod's log: %w", err)
	}
	log.L.Logger.SetOutput(f)
	address := a.Address
	p.sd.RegisterCallback(func(context.Context) error { return shim.RemoveSocket(address) })
	p.adopted = true
	log.G(ctx).WithField("task", a.TaskID).WithField("entry", filepath.Base(p.entry)).Info("pooled shim adopted by its pod")
	return nil
}

// hand gives the task service the booted VM's Host for the pod's first
// container, if the shim was adopted and the container's VM is the
// pooled one's size; nil otherwise, and the factory builds a new Host.
func (p *pooledShim) hand(cfg *options.Config) containerhost.Host {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.adopted || p.handed || cfg.Isolation != options.IsolationHypervisor || vmShape(cfg) != vmShape(p.cfg) {
		return nil
	}
	p.handed = true
	p.host.SetConfig(cfg)
	return p.host
}

// release stops the VM of a shim that goes away without having handed it
// to the task service (then the service closes it), and removes the
// entry of one that was never adopted.
func (p *pooledShim) release(ctx context.Context) error {
	p.mu.Lock()
	h, handed, adopted := p.host, p.handed, p.adopted
	p.finished = true
	p.mu.Unlock()
	var errs []error
	if h != nil && !handed {
		errs = append(errs, h.Close(ctx))
	}
	if !adopted {
		errs = append(errs, vmpool.RemoveEntry(p.entry))
	}
	return errors.Join(errs...)
}

// containerdGone is closed when the containerd that started the pool
// exits: a waiting VM serves no one after that.
func containerdGone(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	pid, err := strconv.Atoi(os.Getenv(poolWatchEnv))
	if err != nil || pid <= 1 {
		return done // nothing to watch
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		log.G(ctx).WithError(err).Warn("watch containerd")
		return done
	}
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err == nil || !errors.Is(err, unix.EINTR) {
				break
			}
		}
		close(done)
	}()
	return done
}
