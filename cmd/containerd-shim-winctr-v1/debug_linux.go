package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/shimdebug"
	"github.com/winctr/winctr/internal/task"
)

// guestDebugger is a Host whose containers run in a guest with an agent
// that can be asked for its goroutines and to run a debug shell.
type guestDebugger interface {
	AgentStacks(ctx context.Context) ([]byte, error)
	DebugShell(ctx context.Context, req shimdebug.Request, s *shimdebug.Session) (int, error)
}

// debugServer answers the winctr command on the shim's debug socket.
// containerd's shim package writes a goroutine dump into the shim's log
// on SIGUSR1, but that log is containerd's (a FIFO it reads), out of an
// operator's reach on a busy node; the socket hands the dump, and the
// guest's, to whoever asks.
type debugServer struct {
	mu    sync.Mutex
	hosts []containerhost.Host // every Host this shim made, newest last
}

// serveDebug starts the shim's debug socket, removed at shutdown, and
// returns factory wrapped to remember the Hosts it makes. Without a
// socket the shim runs on: debugging is not worth failing a pod for.
func serveDebug(ctx context.Context, sd shutdown.Service, factory task.HostFactory) task.HostFactory {
	d := &debugServer{}
	ln, path, err := shimdebug.Listen(shimdebug.Dir)
	if err != nil {
		log.G(ctx).WithError(err).Warn("no debug socket: winctr stacks and shell cannot reach this shim")
		return factory
	}
	go func() {
		if err := shimdebug.Serve(ctx, ln, d.handle); err != nil {
			log.G(ctx).WithError(err).Warn("debug socket")
		}
	}()
	sd.RegisterCallback(func(context.Context) error {
		ln.Close()
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	})
	return func(ctx context.Context, cfg *options.Config) (containerhost.Host, error) {
		h, err := factory(ctx, cfg)
		if err == nil {
			d.mu.Lock()
			d.hosts = append(d.hosts, h)
			d.mu.Unlock()
		}
		return h, err
	}
}

// guest is the newest Host with a guest, if any.
func (d *debugServer) guest() (guestDebugger, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.hosts) - 1; i >= 0; i-- {
		if g, ok := d.hosts[i].(guestDebugger); ok {
			return g, nil
		}
	}
	return nil, fmt.Errorf("this pod runs on the host's kernel, with no guest: %w", errdefs.ErrNotFound)
}

func (d *debugServer) handle(ctx context.Context, req shimdebug.Request, s *shimdebug.Session) (int, error) {
	switch req.Op {
	case shimdebug.OpStacks:
		_, err := s.Stdout.Write(goroutines())
		return 0, err
	case shimdebug.OpAgentStacks:
		g, err := d.guest()
		if err != nil {
			return 0, err
		}
		b, err := g.AgentStacks(ctx)
		if err != nil {
			return 0, err
		}
		_, err = s.Stdout.Write(b)
		return 0, err
	case shimdebug.OpShell:
		g, err := d.guest()
		if err != nil {
			return 0, err
		}
		return g.DebugShell(ctx, req, s)
	}
	return 0, fmt.Errorf("unknown debug operation %q", req.Op)
}

// goroutines is the stack of every goroutine of the shim.
func goroutines() []byte {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// removeStaleDebugSockets removes the debug sockets of shims that died
// without removing theirs; the delete bootstrap that follows a shim's
// death runs it.
func removeStaleDebugSockets() {
	if self, err := os.Executable(); err == nil {
		shimdebug.RemoveStale(shimdebug.Dir, self)
	}
}
