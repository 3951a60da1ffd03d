package task

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	sandboxapi "github.com/containerd/containerd/api/runtime/sandbox/v1"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/options"
)

// sandboxFakeHost can hold a pod itself.
type sandboxFakeHost struct {
	fakeHost
	req  *containerhost.SandboxRequest
	proc *fakeProcess
}

func (h *sandboxFakeHost) StartSandbox(ctx context.Context, req *containerhost.SandboxRequest) (containerhost.Process, error) {
	h.req = req
	h.proc = newFakeProcess(4242)
	return h.proc, nil
}

// TestSandboxAPILifecycle drives a pod through the Sandbox API: create with
// CRI's pod config, start (the host gets the pod's netns, hostname and
// cgroup), a workload container joins, the shim stays while the pod
// does, stop ends the holder, wait reports it, shutdown closes the host.
func TestSandboxAPILifecycle(t *testing.T) {
	h := newHarness(t)
	host := &sandboxFakeHost{}
	h.svc.factory = func(context.Context, *options.Config) (containerhost.Host, error) { return host, nil }
	sb := sandboxService{h.svc}
	cfg, err := proto.Marshal(&runtimeapi.PodSandboxConfig{
		Hostname:  "web",
		Linux:     &runtimeapi.LinuxPodSandboxConfig{CgroupParent: "/pods/web"},
		DnsConfig: &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"svc.cluster.local"}, Options: []string{"ndots:5"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sbBundle := t.TempDir()
	if _, err := sb.CreateSandbox(h.ctx, &sandboxapi.CreateSandboxRequest{
		SandboxID: "pod1", BundlePath: sbBundle, NetnsPath: "/var/run/netns/cni-1",
		Options: &anypb.Any{TypeUrl: "type.googleapis.com/runtime.v1.PodSandboxConfig", Value: cfg},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.CreateSandbox(h.ctx, &sandboxapi.CreateSandboxRequest{SandboxID: "pod2", BundlePath: t.TempDir()}); !errdefs.IsAlreadyExists(errgrpc.ToNative(err)) {
		t.Fatalf("second sandbox in one shim: %v", err)
	}
	st, err := sb.SandboxStatus(h.ctx, &sandboxapi.SandboxStatusRequest{SandboxID: "pod1"})
	if err != nil || st.State != sandboxNotReady {
		t.Fatalf("status before start: %v %v", st, err)
	}
	started, err := sb.StartSandbox(h.ctx, &sandboxapi.StartSandboxRequest{SandboxID: "pod1"})
	if err != nil || started.Pid != 4242 {
		t.Fatalf("start: %v %v", started, err)
	}
	if want := (containerhost.SandboxRequest{ID: "pod1", Bundle: sbBundle, NetNS: "/var/run/netns/cni-1", Hostname: "web", CgroupParent: "/pods/web"}); *host.req != want {
		t.Fatalf("host got %+v, want %+v", *host.req, want)
	}
	if st, _ := sb.SandboxStatus(h.ctx, &sandboxapi.SandboxStatusRequest{SandboxID: "pod1"}); st.State != sandboxReady || st.Pid != 4242 {
		t.Fatalf("status after start: %v", st)
	}
	appBundle := bundle(t, podSpec(containerhost.ContainerTypeContainer, "pod1"))
	if _, err := h.svc.Create(h.ctx, &taskAPI.CreateTaskRequest{ID: "app", Bundle: appBundle}); err != nil {
		t.Fatalf("workload container of the pod: %v", err)
	}
	// The pod's files, written for the pod and mounted into its container.
	if b, _ := os.ReadFile(filepath.Join(sbBundle, "resolv.conf")); string(b) != "search svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n" {
		t.Fatalf("resolv.conf %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(sbBundle, "hostname")); string(b) != "web\n" {
		t.Fatalf("hostname file %q", b)
	}
	spec, err := ReadSpec(appBundle)
	if err != nil {
		t.Fatal(err)
	}
	mounted := map[string]string{}
	for _, m := range spec.Mounts {
		mounted[m.Destination] = m.Source
	}
	for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
		if mounted["/etc/"+f] != filepath.Join(sbBundle, f) {
			t.Fatalf("/etc/%s not mounted from the pod's file: %v", f, mounted)
		}
	}
	if _, err := h.svc.Delete(h.ctx, &taskAPI.DeleteRequest{ID: "app"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Shutdown(h.ctx, &taskAPI.ShutdownRequest{}); err != nil || host.closed {
		t.Fatalf("shutdown while the pod lives closed its host: %v", err)
	}
	if _, err := sb.StopSandbox(h.ctx, &sandboxapi.StopSandboxRequest{SandboxID: "pod1", TimeoutSecs: 1}); err != nil {
		t.Fatal(err)
	}
	w, err := sb.WaitSandbox(h.ctx, &sandboxapi.WaitSandboxRequest{SandboxID: "pod1"})
	if err != nil || w.ExitStatus != 128+15 {
		t.Fatalf("wait: %v %v", w, err)
	}
	if _, err := sb.ShutdownSandbox(h.ctx, &sandboxapi.ShutdownSandboxRequest{SandboxID: "pod1"}); err != nil || !host.closed {
		t.Fatalf("shutdown sandbox: %v, host closed %v", err, host.closed)
	}
	if _, err := sb.PingSandbox(h.ctx, &sandboxapi.PingRequest{SandboxID: "pod1"}); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Fatalf("ping after shutdown: %v", err)
	}
}

// TestRefusedSandboxEndsTheShim: containerd shuts a sandbox down after
// its CreateSandbox failed; the shim, which holds nothing, then ends, and
// says so with success. A shim still holding a task does not.
func TestRefusedSandboxEndsTheShim(t *testing.T) {
	for _, tc := range []struct {
		name     string
		withTask bool
	}{{"nothing held", false}, {"a task held", true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			sb := sandboxService{h.svc}
			bundlePath := t.TempDir()
			opts := []byte("isolation = \"hypervisor\"\n")
			if err := os.WriteFile(filepath.Join(bundlePath, options.FileName), mustOptionsAny(t, opts), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.withTask {
				if _, err := h.svc.Create(h.ctx, &taskAPI.CreateTaskRequest{ID: "c1", Bundle: bundle(t, podSpec(containerhost.ContainerTypeSandbox, "c1"))}); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := proto.Marshal(&runtimeapi.PodSandboxConfig{Annotations: map[string]string{options.AnnotationIsolation: "process"}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = sb.CreateSandbox(h.ctx, &sandboxapi.CreateSandboxRequest{SandboxID: "pod1", BundlePath: bundlePath,
				Options: &anypb.Any{TypeUrl: "type.googleapis.com/runtime.v1.PodSandboxConfig", Value: cfg}})
			if !errdefs.IsInvalidArgument(errgrpc.ToNative(err)) {
				t.Fatalf("create of a pod lowering its isolation: %v", err)
			}
			_, err = sb.ShutdownSandbox(h.ctx, &sandboxapi.ShutdownSandboxRequest{SandboxID: "pod1"})
			select {
			case <-h.sd.Done():
				if tc.withTask || err != nil {
					t.Fatalf("shim ended (shutdown: %v) with a task held %v", err, tc.withTask)
				}
			case <-time.After(2 * time.Second):
				if !tc.withTask || !errdefs.IsNotFound(errgrpc.ToNative(err)) {
					t.Fatalf("shim stayed (shutdown: %v) with a task held %v", err, tc.withTask)
				}
			}
		})
	}
}

// mustOptionsAny is the runtime options file the shim's start writes, for
// options given as TOML.
func mustOptionsAny(t *testing.T, toml []byte) []byte {
	t.Helper()
	a, err := typeurl.MarshalAnyToProto(&runtimeoptions.Options{ConfigBody: toml})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
