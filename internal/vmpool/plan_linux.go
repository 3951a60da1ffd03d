package vmpool

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/pkg/shim"
	"golang.org/x/sys/unix"
)

// The start bootstrap's output is its result, which containerd reads with
// the bootstrap's stderr: nothing here may log. A pool that cannot serve
// falls back to booting a VM, which is what the pod would get without one.

// Plan is what a start bootstrap does with the runtime's warm pool: the
// pool of the runtime's default VM, whether this pod's VM is of that size
// (only then can it take a pooled one), and how many to keep.
type Plan struct {
	Pool *Pool
	// Size is how many shims the pool keeps waiting.
	Size int
	// Match tells that the pod's VM is the pooled ones' size.
	Match bool
	// Root holds every pool of the host (Root when empty): Refill sweeps
	// the others' dead entries too.
	Root string
	// Spawn starts one pooled shim in a new entry of pool.
	Spawn func(ctx context.Context, pool *Pool) error
	// Cleanup removes what a dead shim's VM left in its entry's directory.
	Cleanup func(ctx context.Context, dir string)
}

// socketPath is the file of a unix:// socket address.
func socketPath(address string) string { return strings.TrimPrefix(address, "unix://") }

// Take gives the pod a pooled shim with a booted VM: claim an entry, hand
// its shim the pod (a), and move its socket to the pod's address,
// replacing listener's, the one start just made (rename is atomic: the
// address always has a socket). false when none was ready or the
// hand-over failed, and the caller starts a shim as usual.
func (p *Plan) Take(ctx context.Context, a Adoption, listener *net.UnixListener) bool {
	e, err := p.Pool.Claim()
	if err != nil {
		return false
	}
	fail := func(error) bool {
		p.drop(ctx, *e)
		return false
	}
	if err := Adopt(ctx, e, a); err != nil {
		return fail(err)
	}
	from, err := e.ReadFile(AddressFile)
	if err != nil {
		return fail(err)
	}
	listener.SetUnlinkOnClose(false)
	if err := os.Rename(socketPath(from), socketPath(a.Address)); err != nil {
		return fail(fmt.Errorf("move the pooled shim's socket: %w", err))
	}
	listener.Close()
	_ = os.RemoveAll(e.Dir)
	return true
}

// drop ends an entry's shim if it still runs (its VM dies with it) and
// removes what it left: the VM's directory, recorded in the entry, and
// the entry.
func (p *Plan) drop(ctx context.Context, e Entry) {
	if e.Pid != 0 && Alive(e.Pid, e.ID) {
		_ = unix.Kill(e.Pid, unix.SIGKILL)
	}
	if p.Cleanup != nil {
		p.Cleanup(ctx, e.Dir)
	}
	if addr, err := e.ReadFile(AddressFile); err == nil && !shim.CanConnect(addr) {
		_ = shim.RemoveSocket(addr)
	}
	_ = os.RemoveAll(e.Dir)
}

// Refill brings the pool back to its size: entries whose shim died are
// cleaned up, and new pooled shims are started for the missing ones. Each
// boots its VM in the background; start does not wait for them.
func (p *Plan) Refill(ctx context.Context) {
	unlock, err := p.Pool.Lock()
	if err != nil {
		return
	}
	defer unlock()
	live, dead, err := p.Pool.Scan()
	if err != nil {
		return
	}
	for _, e := range dead {
		p.drop(ctx, e)
	}
	for n := len(live); n < p.Size; n++ {
		if p.Spawn(ctx, p.Pool) != nil {
			break
		}
	}
	p.sweepOthers(ctx)
}

// sweepOthers cleans up after the dead shims of every other pool: a pool
// whose runtime was reconfigured, or whose containerd moved, sees no start
// of its own again. Their lock is not taken (another start may hold it
// while it boots nothing but processes): dropping a dead entry twice is
// harmless, and an entry being spawned has no pid yet and is left.
func (p *Plan) sweepOthers(ctx context.Context) {
	root := p.Root
	if root == "" {
		root = Root
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "*"))
	for _, dir := range dirs {
		if dir == p.Pool.Dir() {
			continue
		}
		pool, err := Open(root, filepath.Base(dir))
		if err != nil {
			continue
		}
		_, dead, _ := pool.Scan()
		for _, e := range dead {
			p.drop(ctx, e)
		}
	}
}
