//go:build linux

package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/winctr/winctr/internal/gcs"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// withoutReaper runs shells with os/exec's wait: a test is not PID 1.
func withoutReaper(t *testing.T) {
	old := startReaped
	t.Cleanup(func() { startReaped = old })
	startReaped = func(cmd *exec.Cmd) (func() int, error) {
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return func() int {
			_ = cmd.Wait()
			return cmd.ProcessState.ExitCode()
		}, nil
	}
}

// hostStreams opens a shell's streams to the router as the host does,
// and returns the host's ends.
func hostStreams(r *gcs.Router, key string, fds ...int) map[int]net.Conn {
	host := map[int]net.Conn{}
	for _, fd := range fds {
		a, b := net.Pipe()
		go r.Route(a)
		go io.WriteString(b, "stdio "+key+" "+string(rune('0'+fd))+"\n")
		host[fd] = b
	}
	return host
}

func readAll(c net.Conn) <-chan string {
	ch := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		_, _ = io.Copy(&b, c)
		ch <- b.String()
	}()
	return ch
}

func TestDebugShell(t *testing.T) {
	withoutReaper(t)
	r := gcs.NewRouter(func(c net.Conn) { c.Close() })
	s := &service{Containers: gcs.NewContainers(gcs.Config{})}
	s.UseRouter(r)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Pipes: stdin in, stdout and stderr apart, the exit status.
	host := hostStreams(r, "k1", 0, 1, 2)
	out, errOut := readAll(host[1]), readAll(host[2])
	_, err := s.StartDebugShell(ctx, &agent.DebugShellRequest{Id: "k1", Args: []string{"/bin/sh", "-c", "read x; echo out $x; echo err >&2; exit 3"},
		Stdio: &agent.Stdio{Key: "k1", Stdin: true, Stdout: true, Stderr: true}})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(host[0], "hello\n")
	host[0].Close()
	w, err := s.WaitDebugShell(ctx, &agent.DebugShellID{Id: "k1"})
	if err != nil || w.ExitStatus != 3 {
		t.Fatalf("wait: %v, %v", w, err)
	}
	if o, e := <-out, <-errOut; o != "out hello\n" || e != "err\n" {
		t.Errorf("stdout %q, stderr %q", o, e)
	}
	if _, err := s.WaitDebugShell(ctx, &agent.DebugShellID{Id: "k1"}); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Errorf("a waited shell is still known: %v", err)
	}

	// A terminal.
	host = hostStreams(r, "k2", 0, 1)
	out = readAll(host[1])
	if _, err := s.StartDebugShell(ctx, &agent.DebugShellRequest{Id: "k2", Args: []string{"/bin/sh", "-c", "tty; stty size"}, Width: 100, Height: 30,
		Stdio: &agent.Stdio{Key: "k2", Stdin: true, Stdout: true, Terminal: true}}); err != nil {
		t.Fatal(err)
	}
	if w, err := s.WaitDebugShell(ctx, &agent.DebugShellID{Id: "k2"}); err != nil || w.ExitStatus != 0 {
		t.Fatalf("wait: %v, %v", w, err)
	}
	if o := <-out; !strings.Contains(o, "/dev/pts/") || !strings.Contains(o, "30 100") {
		t.Errorf("terminal output %q", o)
	}
	host[0].Close()

	// Killed, with what it started.
	host = hostStreams(r, "k3", 1)
	out = readAll(host[1])
	if _, err := s.StartDebugShell(ctx, &agent.DebugShellRequest{Id: "k3", Args: []string{"/bin/sh", "-c", "sleep 100 & wait"},
		Stdio: &agent.Stdio{Key: "k3", Stdout: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartDebugShell(ctx, &agent.DebugShellRequest{Id: "k3", Args: []string{"/bin/true"}}); !errdefs.IsAlreadyExists(errgrpc.ToNative(err)) {
		t.Errorf("a second shell of one id: %v", err)
	}
	if _, err := s.KillDebugShell(ctx, &agent.DebugShellID{Id: "k3"}); err != nil {
		t.Fatal(err)
	}
	if w, err := s.WaitDebugShell(ctx, &agent.DebugShellID{Id: "k3"}); err != nil || w.ExitStatus == 0 {
		t.Errorf("killed shell: %v, %v", w, err)
	}
	<-out

	for _, bad := range []*agent.DebugShellRequest{{Id: "x", Args: []string{"sh"}}, {Args: []string{"/bin/sh"}}, {Id: "x"}} {
		if _, err := s.StartDebugShell(ctx, bad); !errdefs.IsInvalidArgument(errgrpc.ToNative(err)) {
			t.Errorf("StartDebugShell(%v): %v", bad, err)
		}
	}
	if _, err := s.StartDebugShell(ctx, &agent.DebugShellRequest{Id: "x", Args: []string{"/nonexistent"}}); err == nil {
		t.Error("a missing program started")
	}
	if _, err := s.ResizeDebugShell(ctx, &agent.DebugShellResize{Id: "x"}); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Errorf("resize of no shell: %v", err)
	}
	st, err := s.Stacks(ctx, &emptypb.Empty{})
	if err != nil || !bytes.Contains(st.Stacks, []byte("goroutine ")) {
		t.Errorf("stacks: %v", err)
	}
}
