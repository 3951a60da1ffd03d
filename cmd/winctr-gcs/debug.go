//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"

	agent "github.com/winctr/winctr/protos/agent/v1"
)

// rpcError maps errdefs errors onto ttrpc status codes for the host.
func rpcError(err error) error {
	if err == nil {
		return nil
	}
	return errgrpc.ToGRPC(err)
}

// The agent's debugging calls: its goroutines, and shells outside the
// containers for an operator (winctr shell). Their state is here alone,
// so that the handlers move with this file.

// Stacks returns the stack of every goroutine of the agent.
func (s *service) Stacks(context.Context, *emptypb.Empty) (*agent.StacksResponse, error) {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return &agent.StacksResponse{Stacks: buf[:n]}, nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// shellDrain bounds how long a shell's output may run on after it
// exited: a background process holding the terminal must not hold the
// operator's session.
const shellDrain = 2 * time.Second

// debugShell is one running shell.
type debugShell struct {
	pid  int
	pty  *os.File // nil without a terminal
	done chan struct{}
	exit *agent.WaitProcessResponse
}

// shells are the debug shells by id.
var shells = struct {
	mu sync.Mutex
	m  map[string]*debugShell
}{m: map[string]*debugShell{}}

// startReaped starts cmd and returns what waits for its exit status:
// PID 1's reaper collects every exit in the guest. Tests, which are not
// PID 1, swap it.
var startReaped = func(cmd *exec.Cmd) (func() int, error) {
	ec, err := reaper.Default.Start(cmd)
	if err != nil {
		return nil, err
	}
	return func() int {
		status, _ := reaper.Default.Wait(cmd, ec)
		return status
	}, nil
}

func (s *service) StartDebugShell(ctx context.Context, r *agent.DebugShellRequest) (*agent.PidResponse, error) {
	if r.GetId() == "" || len(r.GetArgs()) == 0 || !filepath.IsAbs(r.GetArgs()[0]) {
		return nil, rpcError(fmt.Errorf("a debug shell needs an id and an absolute program path: %w", errdefs.ErrInvalidArgument))
	}
	shells.mu.Lock()
	_, exists := shells.m[r.Id]
	if !exists {
		shells.m[r.Id] = nil // reserved while it starts
	}
	shells.mu.Unlock()
	if exists {
		return nil, rpcError(fmt.Errorf("debug shell %q: %w", r.Id, errdefs.ErrAlreadyExists))
	}
	sh, err := s.startShell(ctx, r)
	shells.mu.Lock()
	if err != nil {
		delete(shells.m, r.Id)
	} else {
		shells.m[r.Id] = sh
	}
	shells.mu.Unlock()
	if err != nil {
		return nil, rpcError(err)
	}
	logf("debug shell %s: %v started as pid %d", r.Id, r.Args, sh.pid)
	return &agent.PidResponse{Pid: uint32(sh.pid)}, nil
}

func closeAll[T io.Closer](cs []T) {
	for _, c := range cs {
		if any(c) != nil {
			c.Close()
		}
	}
}

func (s *service) startShell(ctx context.Context, r *agent.DebugShellRequest) (*debugShell, error) {
	streams, err := s.Streams(ctx, r.Stdio)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(r.Args[0], r.Args[1:]...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), r.Env...)
	var (
		copies  sync.WaitGroup // output copied to the host
		sh      = &debugShell{done: make(chan struct{})}
		closers []io.Closer // this side's ends, closed once the shell started
	)
	output := func(dst net.Conn, src io.Reader) {
		if dst == nil {
			return
		}
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(dst, src)
		}()
	}
	if r.GetStdio().GetTerminal() {
		if err := ensureDevpts(); err != nil {
			closeAll(streams[:])
			return nil, err
		}
		ptmx, tty, err := pty.Open()
		if err != nil {
			closeAll(streams[:])
			return nil, fmt.Errorf("terminal: %w", err)
		}
		if r.Width > 0 && r.Height > 0 {
			_ = pty.Setsize(ptmx, &pty.Winsize{Cols: uint16(r.Width), Rows: uint16(r.Height)})
		}
		if !hasEnv(r.Env, "TERM") {
			cmd.Env = append(cmd.Env, "TERM=xterm")
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		sh.pty = ptmx
		closers = append(closers, tty)
		if streams[0] != nil {
			go func() { _, _ = io.Copy(ptmx, streams[0]) }()
		}
		output(streams[1], ptmx)
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if streams[0] != nil {
			pr, pw, err := os.Pipe()
			if err != nil {
				closeAll(streams[:])
				return nil, err
			}
			cmd.Stdin = pr
			closers = append(closers, pr)
			go func() {
				_, _ = io.Copy(pw, streams[0])
				pw.Close()
			}()
		}
		for fd, dst := range []*io.Writer{&cmd.Stdout, &cmd.Stderr} {
			if streams[fd+1] == nil {
				continue
			}
			pr, pw, err := os.Pipe()
			if err != nil {
				closeAll(streams[:])
				closeAll(closers)
				return nil, err
			}
			*dst = pw
			closers = append(closers, pw)
			output(streams[fd+1], pr)
		}
	}
	wait, err := startReaped(cmd)
	closeAll(closers)
	if err != nil {
		closeAll(streams[:])
		if sh.pty != nil {
			sh.pty.Close()
		}
		return nil, fmt.Errorf("start %s: %w", r.Args[0], err)
	}
	sh.pid = cmd.Process.Pid
	go func() {
		status := wait()
		drained := make(chan struct{})
		go func() {
			copies.Wait()
			close(drained)
		}()
		select {
		case <-drained:
		case <-time.After(shellDrain):
		}
		if sh.pty != nil {
			sh.pty.Close()
		}
		closeAll(streams[:])
		sh.exit = &agent.WaitProcessResponse{ExitStatus: uint32(status), ExitedAtUnixNano: time.Now().UnixNano()}
		close(sh.done)
	}()
	return sh, nil
}

// ensureDevpts gives the guest's root terminals: /dev/ptmx opens a
// terminal of the devpts at /dev/pts, and the agent's /dev has none (crun
// mounts one in each container), so the first terminal shell mounts it.
// Where one is mounted, as on any host, nothing is.
func ensureDevpts() error {
	devptsOnce.Do(func() {
		var st unix.Statfs_t
		if err := unix.Statfs("/dev/pts", &st); err == nil && st.Type == unix.DEVPTS_SUPER_MAGIC {
			return
		}
		if err := os.MkdirAll("/dev/pts", 0o755); err != nil {
			devptsErr = err
			return
		}
		err := unix.Mount("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
		if err != nil && err != unix.EBUSY {
			devptsErr = fmt.Errorf("mount devpts on /dev/pts: %w", err)
			return
		}
		if err := os.Symlink("pts/ptmx", "/dev/ptmx"); err != nil && !os.IsExist(err) {
			devptsErr = fmt.Errorf("link /dev/ptmx: %w", err)
		}
	})
	return devptsErr
}

var (
	devptsOnce sync.Once
	devptsErr  error
)

func hasEnv(env []string, name string) bool {
	for _, e := range env {
		if len(e) > len(name) && e[:len(name)+1] == name+"=" {
			return true
		}
	}
	return false
}

func shell(id string) (*debugShell, error) {
	shells.mu.Lock()
	defer shells.mu.Unlock()
	sh := shells.m[id]
	if sh == nil {
		return nil, fmt.Errorf("debug shell %q: %w", id, errdefs.ErrNotFound)
	}
	return sh, nil
}

func (s *service) WaitDebugShell(ctx context.Context, r *agent.DebugShellID) (*agent.WaitProcessResponse, error) {
	sh, err := shell(r.GetId())
	if err != nil {
		return nil, rpcError(err)
	}
	select {
	case <-sh.done:
	case <-ctx.Done():
		return nil, rpcError(ctx.Err())
	}
	shells.mu.Lock()
	delete(shells.m, r.Id)
	shells.mu.Unlock()
	return sh.exit, nil
}

func (s *service) ResizeDebugShell(ctx context.Context, r *agent.DebugShellResize) (*emptypb.Empty, error) {
	sh, err := shell(r.GetId())
	if err != nil {
		return nil, rpcError(err)
	}
	if sh.pty == nil {
		return nil, rpcError(fmt.Errorf("debug shell %q has no terminal: %w", r.Id, errdefs.ErrFailedPrecondition))
	}
	if err := pty.Setsize(sh.pty, &pty.Winsize{Cols: uint16(r.Width), Rows: uint16(r.Height)}); err != nil {
		return nil, rpcError(err)
	}
	return &emptypb.Empty{}, nil
}

// KillDebugShell kills the shell's process group: what it started goes
// with it.
func (s *service) KillDebugShell(ctx context.Context, r *agent.DebugShellID) (*emptypb.Empty, error) {
	sh, err := shell(r.GetId())
	if err != nil {
		return nil, rpcError(err)
	}
	select {
	case <-sh.done:
	default:
		if err := unix.Kill(-sh.pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
			return nil, rpcError(err)
		}
	}
	return &emptypb.Empty{}, nil
}
