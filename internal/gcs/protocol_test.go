//go:build linux

package gcs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/winctr/winctr/internal/uvm"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// testAgent is the agent API with the containers half real and the
// guest-system half (mounts, network, power) refused.
type testAgent struct{ *Containers }

func notHere() error { return errgrpc.ToGRPC(errdefs.ErrNotImplemented) }

func (testAgent) Ping(context.Context, *agent.PingRequest) (*agent.PingResponse, error) {
	return &agent.PingResponse{}, nil
}
func (testAgent) Shutdown(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return nil, notHere()
}
func (testAgent) Mount(context.Context, *agent.MountRequest) (*emptypb.Empty, error) {
	return nil, notHere()
}
func (testAgent) Unmount(context.Context, *agent.UnmountRequest) (*emptypb.Empty, error) {
	return nil, notHere()
}
func (testAgent) ConfigureNetwork(context.Context, *agent.ConfigureNetworkRequest) (*emptypb.Empty, error) {
	return nil, notHere()
}
func (testAgent) Stacks(context.Context, *emptypb.Empty) (*agent.StacksResponse, error) {
	return nil, notHere()
}
func (testAgent) StartDebugShell(context.Context, *agent.DebugShellRequest) (*agent.PidResponse, error) {
	return nil, notHere()
}
func (testAgent) WaitDebugShell(context.Context, *agent.DebugShellID) (*agent.WaitProcessResponse, error) {
	return nil, notHere()
}
func (testAgent) ResizeDebugShell(context.Context, *agent.DebugShellResize) (*emptypb.Empty, error) {
	return nil, notHere()
}
func (testAgent) KillDebugShell(context.Context, *agent.DebugShellID) (*emptypb.Empty, error) {
	return nil, notHere()
}

// guest is one agent served over in-memory connections, and the host's
// end of it: the same uvm.Session the VM host uses, dialing net.Pipe
// connections whose far ends the agent's router takes.
type guest struct {
	t       *testing.T
	ctx     context.Context
	host    *fakeHost
	root    string
	session *uvm.Session
	api     agent.AgentService
}

func newGuest(t *testing.T, configure ...func(*Config)) *guest {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "share"), 0o755); err != nil {
		t.Fatal(err)
	}
	host := newFakeHost()
	cfg := Config{
		Root:       root,
		BundlesDir: filepath.Join(root, "bundles"),
		SysctlDir:  t.TempDir(),
		NewHost:    func(context.Context) (Host, error) { return host, nil },
		Logf:       t.Logf,
	}
	for _, f := range configure {
		f(&cfg)
	}
	svc := NewContainers(cfg)
	r := NewRouter(func(c net.Conn) { c.Close() })
	svc.UseRouter(r)
	srv, err := ttrpc.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	agent.RegisterAgentService(srv, testAgent{svc})
	go func() { _ = srv.Serve(context.Background(), r) }()
	done := make(chan struct{})
	session := uvm.NewDialSession(func() (net.Conn, error) {
		hostEnd, guestEnd := net.Pipe()
		go r.Route(guestEnd)
		return hostEnd, nil
	}, done)
	apiConn, err := session.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	client := ttrpc.NewClient(apiConn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(func() {
		cancel()
		client.Close()
		close(done)
		r.Close()
		srv.Close()
	})
	return &guest{t: t, ctx: ctx, host: host, root: root, session: session, api: agent.NewAgentClient(client)}
}

// streams opens the stdio streams of key as the VM host does before it
// asks for the process: stdin, stdout and, unless a terminal, stderr.
type streams struct{ in, out, err net.Conn }

func (g *guest) streams(key string, stdin bool) (*agent.Stdio, *streams) {
	g.t.Helper()
	s := &streams{}
	var err error
	if stdin {
		if s.in, err = g.session.OpenStdio(key, 0); err != nil {
			g.t.Fatal(err)
		}
	}
	if s.out, err = g.session.OpenStdio(key, 1); err != nil {
		g.t.Fatal(err)
	}
	if s.err, err = g.session.OpenStdio(key, 2); err != nil {
		g.t.Fatal(err)
	}
	return &agent.Stdio{Key: key, Stdin: stdin, Stdout: true, Stderr: true}, s
}

// readAll reads a stream to its end, as containerd's side of stdio does.
func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read stream: %v", err)
	}
	return string(b)
}

func (g *guest) spec(args ...string) []byte {
	g.t.Helper()
	rootfs := filepath.Join(g.root, "share", "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		g.t.Fatal(err)
	}
	b, err := json.Marshal(&specs.Spec{
		Version: "1.1.0",
		Process: &specs.Process{Args: args, Cwd: "/"},
		Root:    &specs.Root{Path: rootfs},
		Linux:   &specs.Linux{},
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return b
}

func processJSON(t *testing.T, args ...string) []byte {
	t.Helper()
	b, err := json.Marshal(&specs.Process{Args: args, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// class is the errdefs class of an answer, "" for none.
func class(err error) string {
	err = errgrpc.ToNative(err)
	switch {
	case err == nil:
		return ""
	case errdefs.IsNotFound(err):
		return "not found"
	case errdefs.IsInvalidArgument(err):
		return "invalid argument"
	case errdefs.IsFailedPrecondition(err):
		return "failed precondition"
	case errdefs.IsAlreadyExists(err):
		return "already exists"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	return "other: " + err.Error()
}

// TestProtocol drives one container through the agent API as the VM host
// does: create with stdio, start, stdin to stdout, exec with output, a
// killed exec, an OOM, wait, delete, and what is refused on the way.
func TestProtocol(t *testing.T) {
	g := newGuest(t)
	ctx := g.ctx

	io1, init := g.streams("c1/init/1", true)
	if _, err := g.api.CreateContainer(ctx, &agent.CreateContainerRequest{ContainerId: "c1", SpecJson: g.spec("cat"), Stdio: io1}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := g.api.CreateContainer(ctx, &agent.CreateContainerRequest{ContainerId: "c1", SpecJson: g.spec("cat")}); class(err) != "already exists" {
		t.Errorf("second create of c1: %v, want already exists", err)
	}
	if _, err := os.Stat(filepath.Join(g.root, "bundles", "c1", "config.json")); err != nil {
		t.Errorf("bundle: %v", err)
	}
	started, err := g.api.StartProcess(ctx, &agent.ProcessRequest{ContainerId: "c1"})
	if err != nil || started.Pid == 0 {
		t.Fatalf("start: %v %v", started, err)
	}

	// stdin reaches the process and its output comes back; the end of
	// stdin is the end of the output.
	if _, err := init.in.Write([]byte("through the guest\n")); err != nil {
		t.Fatal(err)
	}
	init.in.Close()
	if _, err := g.api.CloseStdin(ctx, &agent.ProcessRequest{ContainerId: "c1"}); err != nil {
		t.Fatalf("close stdin: %v", err)
	}
	if got := readAll(t, init.out); got != "through the guest\n" {
		t.Errorf("init stdout %q", got)
	}
	if got := readAll(t, init.err); got != "" {
		t.Errorf("init stderr %q", got)
	}
	w, err := g.api.WaitProcess(ctx, &agent.ProcessRequest{ContainerId: "c1"})
	if err != nil || w.ExitStatus != 0 || w.ExitedAtUnixNano == 0 {
		t.Fatalf("wait init: %v %v", w, err)
	}

	// An exec with output on both streams.
	io2, echo := g.streams("c1/e1/2", false)
	if _, err := g.api.ExecProcess(ctx, &agent.ExecProcessRequest{ContainerId: "c1", ExecId: "e1", ProcessJson: processJSON(t, "echo", "hi"), Stdio: io2}); err != nil {
		t.Fatalf("exec: %v", err)
	}
	if _, err := g.api.StartProcess(ctx, &agent.ProcessRequest{ContainerId: "c1", ExecId: "e1"}); err != nil {
		t.Fatalf("start exec: %v", err)
	}
	if got := readAll(t, echo.out); got != "hi\n" {
		t.Errorf("exec stdout %q", got)
	}
	if got := readAll(t, echo.err); got != "to stderr\n" {
		t.Errorf("exec stderr %q", got)
	}
	if w, err := g.api.WaitProcess(ctx, &agent.ProcessRequest{ContainerId: "c1", ExecId: "e1"}); err != nil || w.ExitStatus != 0 {
		t.Fatalf("wait exec: %v %v", w, err)
	}
	if _, err := g.api.DeleteProcess(ctx, &agent.ProcessRequest{ContainerId: "c1", ExecId: "e1"}); err != nil {
		t.Fatalf("delete exec: %v", err)
	}
	if _, err := g.api.WaitProcess(ctx, &agent.ProcessRequest{ContainerId: "c1", ExecId: "e1"}); class(err) != "not found" {
		t.Errorf("wait of a deleted exec: %v, want not found", err)
	}

	// A signal ends a process with 128+n.
	if _, err := g.api.ExecProcess(ctx, &agent.ExecProcessRequest{ContainerId: "c1", ExecId: "e2", ProcessJson: processJSON(t, "sleep")}); err != nil {
		t.Fatalf("exec without stdio: %v", err)
	}
	if _, err := g.api.StartProcess(ctx, &agent.ProcessRequest{ContainerId: "c1", ExecId: "e2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.api.SignalProcess(ctx, &agent.SignalProcessRequest{ContainerId: "c1", ExecId: "e2", Signal: uint32(syscall.SIGKILL)}); err != nil {
		t.Fatalf("signal: %v", err)
	}
	if w, err := g.api.WaitProcess(ctx, &agent.ProcessRequest{ContainerId: "c1", ExecId: "e2"}); err != nil || w.ExitStatus != 128+uint32(syscall.SIGKILL) {
		t.Fatalf("wait killed exec: %v %v", w, err)
	}

	// An OOM is answered as one.
	oom := make(chan error, 1)
	go func() {
		_, err := g.api.WaitOOM(ctx, &agent.ContainerRequest{ContainerId: "c1"})
		oom <- err
	}()
	g.host.container("c1").oom <- struct{}{}
	if err := <-oom; err != nil {
		t.Fatalf("wait OOM: %v", err)
	}

	if ps, err := g.api.Pids(ctx, &agent.ContainerRequest{ContainerId: "c1"}); err != nil || len(ps.Pids) != 1 || ps.Pids[0] != started.Pid {
		t.Errorf("pids: %v %v, want [%d]", ps, err, started.Pid)
	}

	// The delete ends a pending OOM wait as not found, not as an OOM.
	go func() {
		_, err := g.api.WaitOOM(ctx, &agent.ContainerRequest{ContainerId: "c1"})
		oom <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the wait reach the agent
	if _, err := g.api.DeleteProcess(ctx, &agent.ProcessRequest{ContainerId: "c1"}); err != nil {
		t.Fatalf("delete init: %v", err)
	}
	if _, err := g.api.DeleteContainer(ctx, &agent.ContainerRequest{ContainerId: "c1"}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := <-oom; class(err) != "not found" {
		t.Errorf("OOM wait across the delete: %v, want not found", err)
	}
	if _, err := os.Stat(filepath.Join(g.root, "bundles", "c1")); !os.IsNotExist(err) {
		t.Errorf("bundle left after delete: %v", err)
	}
	for name, call := range map[string]func() error{
		"stats": func() error { _, err := g.api.Stats(ctx, &agent.ContainerRequest{ContainerId: "c1"}); return err },
		"start": func() error { _, err := g.api.StartProcess(ctx, &agent.ProcessRequest{ContainerId: "c1"}); return err },
		"delete": func() error {
			_, err := g.api.DeleteContainer(ctx, &agent.ContainerRequest{ContainerId: "c1"})
			return err
		},
	} {
		if err := call(); class(err) != "not found" {
			t.Errorf("%s after delete: %v, want not found", name, err)
		}
	}
}

// TestProtocolRefusals checks what the agent refuses before it reaches
// the host, and with which class.
func TestProtocolRefusals(t *testing.T) {
	g := newGuest(t)
	outside := t.TempDir()
	escaping, err := json.Marshal(&specs.Spec{
		Version: "1.1.0", Process: &specs.Process{Args: []string{"cat"}, Cwd: "/"},
		Root: &specs.Root{Path: outside}, Linux: &specs.Linux{},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"spec not JSON", func() error {
			_, err := g.api.CreateContainer(g.ctx, &agent.CreateContainerRequest{ContainerId: "c", SpecJson: []byte("{")})
			return err
		}, "invalid argument"},
		{"root outside the agent's tree", func() error {
			_, err := g.api.CreateContainer(g.ctx, &agent.CreateContainerRequest{ContainerId: "c", SpecJson: escaping})
			return err
		}, "invalid argument"},
		{"container id a path", func() error {
			_, err := g.api.CreateContainer(g.ctx, &agent.CreateContainerRequest{ContainerId: "../c", SpecJson: g.spec("cat")})
			return err
		}, "invalid argument"},
		{"exec id a path", func() error {
			_, err := g.api.ExecProcess(g.ctx, &agent.ExecProcessRequest{ContainerId: "c", ExecId: "../e", ProcessJson: processJSON(t, "cat")})
			return err
		}, "invalid argument"},
		{"exec in no container", func() error {
			_, err := g.api.ExecProcess(g.ctx, &agent.ExecProcessRequest{ContainerId: "none", ExecId: "e", ProcessJson: processJSON(t, "cat")})
			return err
		}, "not found"},
		{"signal to no process", func() error {
			_, err := g.api.SignalProcess(g.ctx, &agent.SignalProcessRequest{ContainerId: "none", Signal: 9})
			return err
		}, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := class(tc.call()); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestProtocolSandbox checks a pod's pause process in the agent: it
// starts once, lists itself, refuses what a pause process cannot do, and
// is deleted like a container.
func TestProtocolSandbox(t *testing.T) {
	g := newGuest(t)
	ctx := g.ctx
	p, err := g.api.StartSandbox(ctx, &agent.StartSandboxRequest{SandboxId: "pod", Hostname: "web"})
	if err != nil || p.Pid == 0 {
		t.Fatalf("start sandbox: %v %v", p, err)
	}
	if _, err := g.api.StartSandbox(ctx, &agent.StartSandboxRequest{SandboxId: "pod"}); class(err) != "already exists" {
		t.Errorf("second start: %v, want already exists", err)
	}
	if ps, err := g.api.Pids(ctx, &agent.ContainerRequest{ContainerId: "pod"}); err != nil || len(ps.Pids) != 1 || ps.Pids[0] != p.Pid {
		t.Errorf("pids %v %v", ps, err)
	}
	if _, err := g.api.PauseContainer(ctx, &agent.ContainerRequest{ContainerId: "pod"}); !errdefs.IsNotImplemented(errgrpc.ToNative(err)) {
		t.Errorf("pause of the pause process: %v, want not implemented", err)
	}
	if _, err := g.api.SignalProcess(ctx, &agent.SignalProcessRequest{ContainerId: "pod", Signal: uint32(syscall.SIGKILL)}); err != nil {
		t.Fatal(err)
	}
	if w, err := g.api.WaitProcess(ctx, &agent.ProcessRequest{ContainerId: "pod"}); err != nil || w.ExitStatus != 137 {
		t.Fatalf("wait %v %v", w, err)
	}
	if _, err := g.api.DeleteContainer(ctx, &agent.ContainerRequest{ContainerId: "pod"}); err != nil {
		t.Fatalf("delete: %v", err)
	}
}
