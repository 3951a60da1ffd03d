package lcow

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/winctr/winctr/internal/shimdebug"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// DebugShellBinary is the shell a debug shell runs in the guest: a
// statically linked busybox (Debian's busybox-static), whose shell finds
// its own applets without any in the guest's PATH. The initrd carries no
// shell; the shim copies this one into the pod's share for the session.
var DebugShellBinary = "busybox"

// debugShellWait bounds a debug shell's session.
const debugShellWait = 7 * 24 * time.Hour

// AgentStacks asks the guest agent for its goroutines.
func (h *Host) AgentStacks(ctx context.Context) ([]byte, error) {
	if _, err := h.debuggable(); err != nil {
		return nil, err
	}
	r, err := h.agent.Stacks(ctx, &emptypb.Empty{})
	if err != nil {
		return nil, fmt.Errorf("guest: %w", errgrpc.ToNative(err))
	}
	return r.GetStacks(), nil
}

// debuggable returns the running VM's QEMU side.
func (h *Host) debuggable() (*qemuVM, error) {
	q, ok := h.vm.(*qemuVM)
	if !ok || h.agent == nil || q.session() == nil || h.gone() {
		return nil, fmt.Errorf("the pod's utility VM is not running: %w", errdefs.ErrNotFound)
	}
	return q, nil
}

// DebugShell runs req's command, or an interactive shell, in the guest
// outside the containers, on the session's streams, where the runtime's
// options enable debug shells, and returns its exit status.
func (h *Host) DebugShell(ctx context.Context, req shimdebug.Request, s *shimdebug.Session) (int, error) {
	if !h.cfg.VM.DebugShell {
		return 0, fmt.Errorf("debug shells are off for this pod: its runtime's options must set debug_shell = true: %w", errdefs.ErrFailedPrecondition)
	}
	q, err := h.debuggable()
	if err != nil {
		return 0, err
	}
	bin, err := staticBinary(DebugShellBinary)
	if err != nil {
		return 0, err
	}
	n := strconv.FormatUint(h.seq.Add(1), 10)
	dirName := ".debug-" + n
	dir := filepath.Join(q.shareDir, dirName)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := copyExecutable(bin, filepath.Join(dir, "busybox")); err != nil {
		return 0, err
	}
	shellPath := path.Join(guestShare, dirName, "busybox")
	args := []string{shellPath, "sh"}
	if len(req.Args) > 0 {
		// The command runs as given, by the shell: an applet, or a
		// program of the guest's.
		args = append([]string{shellPath, "sh", "-c", `"$@"`, "sh"}, req.Args...)
	}
	key := "debug/" + n
	stdio := &agent.Stdio{Key: key, Stdin: true, Stdout: true, Stderr: !req.Terminal, Terminal: req.Terminal}
	var streams [3]net.Conn
	defer func() {
		for _, c := range streams {
			if c != nil {
				c.Close()
			}
		}
	}()
	for fd, want := range []bool{stdio.Stdin, stdio.Stdout, stdio.Stderr} {
		if want {
			if streams[fd], err = q.session().OpenStdio(key, fd); err != nil {
				return 0, err
			}
		}
	}
	if _, err := h.agent.StartDebugShell(ctx, &agent.DebugShellRequest{Id: key, Args: args, Env: []string{"HOME=/", "PS1=guest:\\w# "},
		Stdio: stdio, Width: req.Cols, Height: req.Rows}); err != nil {
		return 0, fmt.Errorf("guest: %w", errgrpc.ToNative(err))
	}
	log.G(ctx).WithField("shell", key).WithField("args", req.Args).Info("debug shell started in the guest")
	go func() {
		_, _ = io.Copy(streams[0], s.Stdin)
		streams[0].Close()
	}()
	var copies sync.WaitGroup
	for fd, w := range map[int]io.Writer{1: s.Stdout, 2: s.Stderr} {
		if streams[fd] == nil {
			continue
		}
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(w, streams[fd])
		}()
	}
	go func() {
		for sz := range s.Resize {
			_, _ = h.agent.ResizeDebugShell(context.WithoutCancel(ctx), &agent.DebugShellResize{Id: key, Width: sz.Cols, Height: sz.Rows})
		}
	}()
	stop := context.AfterFunc(ctx, func() {
		// The operator went away: the shell goes too.
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = h.agent.KillDebugShell(kctx, &agent.DebugShellID{Id: key})
	})
	defer stop()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), debugShellWait)
	defer cancel()
	exit, err := h.agent.WaitDebugShell(wctx, &agent.DebugShellID{Id: key})
	if err != nil {
		return 0, fmt.Errorf("guest: %w", errgrpc.ToNative(err))
	}
	// The agent sent all output before it answered; let it arrive.
	drained := make(chan struct{})
	go func() {
		copies.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
	}
	return int(exit.GetExitStatus()), nil
}

// staticBinary finds name and checks that it is statically linked: it
// runs in a guest that has none of the host's libraries.
func staticBinary(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("no %s for the debug shell (apt-get install busybox-static): %w", name, errdefs.ErrFailedPrecondition)
	}
	f, err := elf.Open(p)
	if err != nil {
		return "", fmt.Errorf("debug shell %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return "", fmt.Errorf("debug shell %s is dynamically linked and cannot run in the guest (apt-get install busybox-static): %w", p, errdefs.ErrFailedPrecondition)
		}
	}
	return p, nil
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
