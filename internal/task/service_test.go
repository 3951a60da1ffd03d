package task

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	apitask "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/stdio"
)

// recorder is a fake of containerd's event forwarder.
type recorder struct {
	mu     sync.Mutex
	topics []string
	ch     chan string
}

func newRecorder() *recorder { return &recorder{ch: make(chan string, 100)} }

func (r *recorder) Publish(ctx context.Context, topic string, e events.Event) error {
	r.mu.Lock()
	r.topics = append(r.topics, topic)
	r.mu.Unlock()
	r.ch <- topic
	return nil
}

// next waits for the next published topic.
func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-r.ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no event published")
		return ""
	}
}

// fakeHost runs nothing: each process exits when the test (or a kill) says.
type fakeHost struct {
	mu         sync.Mutex
	containers []*fakeContainer
	closed     bool
}

func (h *fakeHost) CreateContainer(ctx context.Context, req *containerhost.ContainerRequest) (containerhost.Container, error) {
	c := &fakeContainer{id: req.ID}
	c.init = newFakeProcess(100)
	h.mu.Lock()
	h.containers = append(h.containers, c)
	h.mu.Unlock()
	return c, nil
}

func (h *fakeHost) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	return nil
}

type fakeContainer struct {
	id      string
	init    *fakeProcess
	mu      sync.Mutex
	execs   map[string]*fakeProcess
	paused  bool
	deleted bool
}

func (c *fakeContainer) Init() containerhost.Process { return c.init }
func (c *fakeContainer) Exec(ctx context.Context, id string, spec *specs.Process, io stdio.Config) (containerhost.Process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.execs == nil {
		c.execs = map[string]*fakeProcess{}
	}
	p := newFakeProcess(200 + len(c.execs))
	c.execs[id] = p
	return p, nil
}
func (c *fakeContainer) Pause(ctx context.Context) error  { c.paused = true; return nil }
func (c *fakeContainer) Resume(ctx context.Context) error { c.paused = false; return nil }
func (c *fakeContainer) Update(ctx context.Context, r *anypb.Any) error {
	return nil
}
func (c *fakeContainer) Stats(ctx context.Context) (*anypb.Any, error) {
	return nil, errdefs.ErrNotImplemented
}
func (c *fakeContainer) Pids(ctx context.Context) ([]*apitask.ProcessInfo, error) {
	return []*apitask.ProcessInfo{{Pid: uint32(c.init.pid)}}, nil
}
func (c *fakeContainer) OOM() <-chan struct{}             { return nil }
func (c *fakeContainer) Delete(ctx context.Context) error { c.deleted = true; return nil }

type fakeProcess struct {
	pid     int
	mu      sync.Mutex
	started bool
	exit    chan int
	once    sync.Once
}

func newFakeProcess(pid int) *fakeProcess {
	return &fakeProcess{pid: pid, exit: make(chan int, 1)}
}

func (p *fakeProcess) Pid() int { return p.pid }
func (p *fakeProcess) Start(ctx context.Context) error {
	p.mu.Lock()
	p.started = true
	p.mu.Unlock()
	return nil
}

// finish makes the process exit with status.
func (p *fakeProcess) finish(status int) { p.once.Do(func() { p.exit <- status }) }

func (p *fakeProcess) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		p.finish(128 + int(sig))
	}
	return nil
}
func (p *fakeProcess) ResizeTTY(ctx context.Context, w, h uint32) error { return nil }
func (p *fakeProcess) CloseStdin(ctx context.Context) error             { return nil }
func (p *fakeProcess) Wait(ctx context.Context) (containerhost.Exit, error) {
	select {
	case s := <-p.exit:
		return containerhost.Exit{Status: s, At: time.Now()}, nil
	case <-ctx.Done():
		return containerhost.Exit{}, ctx.Err()
	}
}
func (p *fakeProcess) Delete(ctx context.Context) error { return nil }

type harness struct {
	svc  *Service
	host *fakeHost
	rec  *recorder
	sd   shutdown.Service
	ctx  context.Context
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), "test")
	ctx, sd := shutdown.WithShutdown(ctx)
	h := &harness{host: &fakeHost{}, rec: newRecorder(), sd: sd, ctx: ctx}
	svc, err := NewService(ctx, h.rec, sd, func(context.Context, *options.Config) (containerhost.Host, error) { return h.host, nil })
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	t.Cleanup(sd.Shutdown)
	return h
}

// bundle writes a bundle with spec and returns its path.
func bundle(t *testing.T, spec *specs.Spec) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func goodSpec() *specs.Spec {
	return &specs.Spec{
		Process: &specs.Process{Args: []string{"sh"}},
		Root:    &specs.Root{Path: "rootfs"},
		Linux:   &specs.Linux{},
	}
}

func (h *harness) create(t *testing.T, id string) *fakeContainer {
	t.Helper()
	if _, err := h.svc.Create(h.ctx, &taskAPI.CreateTaskRequest{ID: id, Bundle: bundle(t, goodSpec())}); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	h.host.mu.Lock()
	defer h.host.mu.Unlock()
	return h.host.containers[len(h.host.containers)-1]
}

func TestTaskLifecycleEventOrder(t *testing.T) {
	h := newHarness(t)
	c := h.create(t, "t1")
	if _, err := h.svc.Start(h.ctx, &taskAPI.StartRequest{ID: "t1"}); err != nil {
		t.Fatal(err)
	}
	c.init.finish(3)
	w, err := h.svc.Wait(h.ctx, &taskAPI.WaitRequest{ID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if w.ExitStatus != 3 {
		t.Fatalf("exit status %d, want 3", w.ExitStatus)
	}
	st, err := h.svc.State(h.ctx, &taskAPI.StateRequest{ID: "t1"})
	if err != nil || st.Status != apitask.Status_STOPPED || st.ExitStatus != 3 {
		t.Fatalf("state %v %v", st, err)
	}
	// An exited task lists no processes, and says so: an empty list would
	// make a restarting containerd delete it and lose its exit status.
	if _, err := h.svc.Pids(h.ctx, &taskAPI.PidsRequest{ID: "t1"}); !errdefs.IsFailedPrecondition(errgrpc.ToNative(err)) {
		t.Fatalf("pids of an exited task: %v, want failed precondition", err)
	}
	d, err := h.svc.Delete(h.ctx, &taskAPI.DeleteRequest{ID: "t1"})
	if err != nil || d.ExitStatus != 3 {
		t.Fatalf("delete %v %v", d, err)
	}
	want := []string{runtime.TaskCreateEventTopic, runtime.TaskStartEventTopic, runtime.TaskExitEventTopic, runtime.TaskDeleteEventTopic}
	for _, topic := range want {
		if got := h.rec.next(t); got != topic {
			t.Fatalf("event %s, want %s", got, topic)
		}
	}
	if !c.deleted {
		t.Fatal("host container not deleted")
	}
}

func TestExecExitsBeforeTask(t *testing.T) {
	h := newHarness(t)
	c := h.create(t, "t1")
	if _, err := h.svc.Start(h.ctx, &taskAPI.StartRequest{ID: "t1"}); err != nil {
		t.Fatal(err)
	}
	spec, err := typeurl.MarshalAnyToProto(&specs.Process{Args: []string{"sleep", "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Exec(h.ctx, &taskAPI.ExecProcessRequest{ID: "t1", ExecID: "e1", Spec: spec}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Start(h.ctx, &taskAPI.StartRequest{ID: "t1", ExecID: "e1"}); err != nil {
		t.Fatal(err)
	}
	// The init exits first; the exec survives until the service kills it.
	c.init.finish(0)
	if _, err := h.svc.Wait(h.ctx, &taskAPI.WaitRequest{ID: "t1"}); err != nil {
		t.Fatal(err)
	}
	we, err := h.svc.Wait(h.ctx, &taskAPI.WaitRequest{ID: "t1", ExecID: "e1"})
	if err != nil || we.ExitStatus != 137 {
		t.Fatalf("exec wait %v %v, want 137", we, err)
	}
	want := []string{
		runtime.TaskCreateEventTopic, runtime.TaskStartEventTopic,
		runtime.TaskExecAddedEventTopic, runtime.TaskExecStartedEventTopic,
		runtime.TaskExitEventTopic, runtime.TaskExitEventTopic,
	}
	for _, topic := range want {
		if got := h.rec.next(t); got != topic {
			t.Fatalf("event %s, want %s", got, topic)
		}
	}
}

func TestStateMachineRules(t *testing.T) {
	h := newHarness(t)
	c := h.create(t, "t1")
	tests := []struct {
		name string
		call func() error
		want func(error) bool
	}{
		{"exec before start", func() error {
			spec, _ := typeurl.MarshalAnyToProto(&specs.Process{Args: []string{"true"}})
			_, err := h.svc.Exec(h.ctx, &taskAPI.ExecProcessRequest{ID: "t1", ExecID: "e", Spec: spec})
			return err
		}, errdefs.IsFailedPrecondition},
		{"start", func() error { _, err := h.svc.Start(h.ctx, &taskAPI.StartRequest{ID: "t1"}); return err }, nil},
		{"start twice", func() error { _, err := h.svc.Start(h.ctx, &taskAPI.StartRequest{ID: "t1"}); return err }, errdefs.IsFailedPrecondition},
		{"delete running", func() error { _, err := h.svc.Delete(h.ctx, &taskAPI.DeleteRequest{ID: "t1"}); return err }, errdefs.IsFailedPrecondition},
		{"unknown task", func() error { _, err := h.svc.State(h.ctx, &taskAPI.StateRequest{ID: "nope"}); return err }, errdefs.IsNotFound},
		{"unknown exec", func() error {
			_, err := h.svc.Kill(h.ctx, &taskAPI.KillRequest{ID: "t1", ExecID: "nope", Signal: 9})
			return err
		}, errdefs.IsNotFound},
		{"checkpoint", func() error {
			_, err := h.svc.Checkpoint(h.ctx, &taskAPI.CheckpointTaskRequest{ID: "t1"})
			return err
		}, errdefs.IsNotImplemented},
		{"pause", func() error { _, err := h.svc.Pause(h.ctx, &taskAPI.PauseRequest{ID: "t1"}); return err }, nil},
		{"paused state", func() error {
			st, err := h.svc.State(h.ctx, &taskAPI.StateRequest{ID: "t1"})
			if err == nil && st.Status != apitask.Status_PAUSED {
				return errors.New("not paused")
			}
			return err
		}, nil},
		{"resume", func() error { _, err := h.svc.Resume(h.ctx, &taskAPI.ResumeRequest{ID: "t1"}); return err }, nil},
		{"shutdown with a task left", func() error { _, err := h.svc.Shutdown(h.ctx, &taskAPI.ShutdownRequest{}); return err }, nil},
		{"kill", func() error {
			_, err := h.svc.Kill(h.ctx, &taskAPI.KillRequest{ID: "t1", Signal: uint32(syscall.SIGKILL)})
			return err
		}, nil},
		{"wait", func() error {
			w, err := h.svc.Wait(h.ctx, &taskAPI.WaitRequest{ID: "t1"})
			if err == nil && w.ExitStatus != 137 {
				return errors.New("exit status not 137")
			}
			return err
		}, nil},
		{"kill after exit", func() error {
			_, err := h.svc.Kill(h.ctx, &taskAPI.KillRequest{ID: "t1", Signal: 9})
			return err
		}, errdefs.IsNotFound},
		{"delete", func() error { _, err := h.svc.Delete(h.ctx, &taskAPI.DeleteRequest{ID: "t1"}); return err }, nil},
		{"delete again", func() error { _, err := h.svc.Delete(h.ctx, &taskAPI.DeleteRequest{ID: "t1"}); return err }, errdefs.IsNotFound},
	}
	for _, tt := range tests {
		err := errgrpc.ToNative(tt.call())
		switch {
		case tt.want == nil && err != nil:
			t.Fatalf("%s: %v", tt.name, err)
		case tt.want != nil && !tt.want(err):
			t.Fatalf("%s: got %v", tt.name, err)
		}
	}
	if !c.deleted {
		t.Fatal("container not deleted")
	}
	select {
	case <-h.sd.Done():
		t.Fatal("shim shut down while a task remained")
	default:
	}
	if _, err := h.svc.Shutdown(h.ctx, &taskAPI.ShutdownRequest{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.sd.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no shutdown after the last task")
	}
	if !h.host.closed {
		t.Fatal("host not closed at shutdown")
	}
}

func TestCreateRefusesBadSpecs(t *testing.T) {
	h := newHarness(t)
	noProcess := goodSpec()
	noProcess.Process = nil
	noArgs := goodSpec()
	noArgs.Process.Args = nil
	noRoot := goodSpec()
	noRoot.Root = nil
	tests := []struct {
		name   string
		bundle string
	}{
		{"no process", bundle(t, noProcess)},
		{"no args", bundle(t, noArgs)},
		{"no root", bundle(t, noRoot)},
		{"no config.json", t.TempDir()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.svc.Create(h.ctx, &taskAPI.CreateTaskRequest{ID: "bad", Bundle: tt.bundle})
			if !errdefs.IsInvalidArgument(errgrpc.ToNative(err)) {
				t.Fatalf("got %v, want invalid argument", err)
			}
		})
	}
	// The service still works after refusing.
	h.create(t, "good")
}

func podSpec(kind, sandbox string) *specs.Spec {
	s := goodSpec()
	s.Annotations = map[string]string{containerhost.AnnotationContainerType: kind, containerhost.AnnotationSandboxID: sandbox}
	return s
}

// TestPodMembersAndKillAll: a workload container needs its pod's sandbox
// in this shim, and killing the sandbox with all set ends the sandbox's
// own processes only: the pod's other tasks live on, as with the runc shim.
func TestPodMembersAndKillAll(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.Create(h.ctx, &taskAPI.CreateTaskRequest{ID: "orphan", Bundle: bundle(t, podSpec(containerhost.ContainerTypeContainer, "nopod"))})
	if !errdefs.IsFailedPrecondition(errgrpc.ToNative(err)) || !strings.Contains(err.Error(), `"nopod"`) {
		t.Fatalf("workload container of an unknown pod: %v", err)
	}
	for _, tc := range []struct{ id, kind string }{{"pod", containerhost.ContainerTypeSandbox}, {"app", containerhost.ContainerTypeContainer}} {
		if _, err := h.svc.Create(h.ctx, &taskAPI.CreateTaskRequest{ID: tc.id, Bundle: bundle(t, podSpec(tc.kind, "pod"))}); err != nil {
			t.Fatalf("create %s: %v", tc.id, err)
		}
		if _, err := h.svc.Start(h.ctx, &taskAPI.StartRequest{ID: tc.id}); err != nil {
			t.Fatalf("start %s: %v", tc.id, err)
		}
	}
	if _, err := h.svc.Kill(h.ctx, &taskAPI.KillRequest{ID: "pod", Signal: uint32(syscall.SIGKILL), All: true}); err != nil {
		t.Fatal(err)
	}
	if r, err := h.svc.Wait(h.ctx, &taskAPI.WaitRequest{ID: "pod"}); err != nil || r.ExitStatus != 137 {
		t.Fatalf("wait pod: %v %v", r, err)
	}
	st, err := h.svc.State(h.ctx, &taskAPI.StateRequest{ID: "app"})
	if err != nil || st.Status != apitask.Status_RUNNING {
		t.Fatalf("the pod's container after its sandbox was killed: %v %v", st, err)
	}
}
