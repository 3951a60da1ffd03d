//go:build e2e

package cri

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/test/harness"
)

const (
	busybox = "docker.io/local/busybox:latest"
)

// rpcCtx bounds one CRI call, so that a hung call fails its test with a
// message instead of hanging the suite.
func rpcCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// pod is a running pod sandbox of the test.
type pod struct {
	id     string
	config *runtimeapi.PodSandboxConfig
}

// runPod runs a pod sandbox with the runtime handler and removes it at the
// end of the test.
func runPod(t *testing.T, handler, name string, annotations map[string]string) *pod {
	t.Helper()
	return runPodWith(t, handler, name, func(c *runtimeapi.PodSandboxConfig) { c.Annotations = annotations })
}

// runPodWith is runPod with the pod's config changed by configure first.
func runPodWith(t *testing.T, handler, name string, configure func(*runtimeapi.PodSandboxConfig)) *pod {
	t.Helper()
	ctx := rpcCtx(t)
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: name + "-uid"},
		Hostname:     name,
		LogDirectory: t.TempDir(),
		DnsConfig:    &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"svc.cluster.local"}},
		Linux:        &runtimeapi.LinuxPodSandboxConfig{CgroupParent: cd.CRI().CgroupParent + "/" + name},
	}
	configure(cfg)
	resp, err := runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: handler})
	if err != nil {
		t.Fatalf("RunPodSandbox(%s): %v", handler, err)
	}
	p := &pod{id: resp.PodSandboxId, config: cfg}
	t.Cleanup(func() { p.remove(t) })
	return p
}

// remove stops and removes the pod (idempotent).
func (p *pod) remove(t *testing.T) {
	ctx := rpcCtx(t)
	if _, err := runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id}); err != nil {
		t.Errorf("StopPodSandbox: %v", err)
	}
	if _, err := runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id}); err != nil {
		t.Errorf("RemovePodSandbox: %v", err)
	}
}

// container creates and starts a container in the pod.
func (p *pod) container(t *testing.T, name string, attempt uint32, args ...string) string {
	t.Helper()
	return p.containerWith(t, name, attempt, func(*runtimeapi.ContainerConfig) {}, args...)
}

// containerWith is container with the config changed by configure first.
func (p *pod) containerWith(t *testing.T, name string, attempt uint32, configure func(*runtimeapi.ContainerConfig), args ...string) string {
	t.Helper()
	ctx := rpcCtx(t)
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name, Attempt: attempt},
		Image:    &runtimeapi.ImageSpec{Image: busybox},
		Command:  args,
		LogPath:  name + "-" + strconv.Itoa(int(attempt)) + ".log",
		Linux:    &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{}},
	}
	configure(cfg)
	resp, err := runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, Config: cfg, SandboxConfig: p.config})
	if err != nil {
		t.Fatalf("CreateContainer %s: %v", name, err)
	}
	if _, err := runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
		t.Fatalf("StartContainer %s: %v", name, err)
	}
	return resp.ContainerId
}

// exec runs a command in a container with ExecSync.
func exec(t *testing.T, id string, args ...string) *runtimeapi.ExecSyncResponse {
	t.Helper()
	r, err := runtime.ExecSync(rpcCtx(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: args, Timeout: 60})
	if err != nil {
		t.Fatalf("ExecSync %v in %s: %v", args, id, err)
	}
	return r
}

// status returns a container's CRI status.
func status(t *testing.T, id string) *runtimeapi.ContainerStatus {
	t.Helper()
	r, err := runtime.ContainerStatus(rpcCtx(t), &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatalf("ContainerStatus %s: %v", id, err)
	}
	return r.Status
}

// waitLog waits until the container's CRI log file holds want.
func (p *pod) waitLog(t *testing.T, logPath, want string) {
	t.Helper()
	path := filepath.Join(p.config.LogDirectory, logPath)
	var b []byte
	for i := 0; i < 100; i++ {
		b, _ = os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("log %s lacks %q: %q", path, want, b)
}

// checkPod runs the kubelet's calls against a two-container pod with the
// given handler.
func checkPod(t *testing.T, handler string, inVM bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	name := strings.ReplaceAll(handler, "-", "")
	p := runPod(t, handler, name, nil)
	web := p.container(t, "web", 0, "sh", "-c", "echo hello-from-web; mkdir /www; hostname > /www/hostname; exec httpd -f -p 8080 -h /www")
	side := p.container(t, "side", 0, "sh", "-c", "trap 'echo got-term; exit 0' TERM; sleep 1000 & wait")
	p.waitLog(t, "web-0.log", "stdout F hello-from-web")

	if n := len(cd.Shims()); n != 1 {
		t.Fatalf("%d shims for one pod", n)
	}
	// ExecSync: output on both streams and the exit code.
	r := exec(t, web, "sh", "-c", "echo out; echo err >&2; exit 3")
	if string(r.Stdout) != "out\n" || string(r.Stderr) != "err\n" || r.ExitCode != 3 {
		t.Fatalf("ExecSync: %q %q %d", r.Stdout, r.Stderr, r.ExitCode)
	}
	// The pod's containers share its network (and UTS) namespace.
	nsA := exec(t, web, "readlink", "/proc/self/ns/net")
	nsB := exec(t, side, "readlink", "/proc/self/ns/net")
	if string(nsA.Stdout) != string(nsB.Stdout) || len(nsA.Stdout) == 0 {
		t.Fatalf("containers of one pod in different network namespaces: %q %q", nsA.Stdout, nsB.Stdout)
	}
	if h := exec(t, side, "hostname"); strings.TrimSpace(string(h.Stdout)) != name {
		t.Fatalf("hostname %q, want the pod's %q", h.Stdout, name)
	}
	// The pod's DNS config and hostname file reach its containers.
	files := string(exec(t, side, "cat", "/etc/resolv.conf", "/etc/hostname").Stdout)
	for _, want := range []string{"nameserver 10.96.0.10", "search svc.cluster.local", name + "\n"} {
		if !strings.Contains(files, want) {
			t.Fatalf("resolv.conf and hostname %q lack %q", files, want)
		}
	}
	// One container reaches the other over the pod's loopback.
	if r := exec(t, side, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/hostname"); r.ExitCode != 0 || !strings.Contains(string(r.Stdout), name) {
		t.Fatalf("wget from side to web: %d %q %q", r.ExitCode, r.Stdout, r.Stderr)
	}
	// The kernel: the guest's in a VM pod, the host's otherwise.
	want, err := harness.GuestKernelRelease()
	if !inVM {
		var u unix.Utsname
		err = unix.Uname(&u)
		want = unix.ByteSliceToString(u.Release[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(exec(t, web, "uname", "-r").Stdout)); got != want {
		t.Fatalf("kernel %q in the pod, want %q (VM: %v)", got, want, inVM)
	}

	// Stats with real numbers.
	st, err := runtime.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: web})
	if err != nil {
		t.Fatalf("ContainerStats: %v", err)
	}
	if st.Stats.GetMemory().GetWorkingSetBytes().GetValue() == 0 {
		t.Fatalf("no memory figure: %v", st.Stats)
	}

	ps, err := runtime.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: p.id})
	if err != nil {
		t.Fatalf("PodSandboxStats: %v", err)
	}
	if ps.Stats.GetLinux().GetMemory().GetWorkingSetBytes().GetValue() == 0 || len(ps.Stats.GetLinux().GetContainers()) < 2 {
		t.Fatalf("pod stats without figures: %v", ps.Stats)
	}

	// Live update of the memory limit, seen in the container's cgroup.
	limit := int64(96 << 20)
	if _, err := runtime.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{
		ContainerId: side, Linux: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: limit},
	}); err != nil {
		t.Fatalf("UpdateContainerResources: %v", err)
	}
	r = exec(t, side, "sh", "-c", "if [ -f /sys/fs/cgroup/cgroup.controllers ]; then p=$(grep '^0::' /proc/self/cgroup); cat /sys/fs/cgroup${p#0::}/memory.max; else cat /sys/fs/cgroup/memory/memory.limit_in_bytes; fi")
	if strings.TrimSpace(string(r.Stdout)) != strconv.FormatInt(limit, 10) {
		t.Fatalf("memory limit in the container %q, want %d (%q)", r.Stdout, limit, r.Stderr)
	}

	// Stop with a grace period: side ends on its SIGTERM trap.
	start := time.Now()
	if _, err := runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: side, Timeout: 10}); err != nil {
		t.Fatalf("StopContainer side: %v", err)
	}
	if s := status(t, side); s.State != runtimeapi.ContainerState_CONTAINER_EXITED || s.ExitCode != 0 {
		t.Fatalf("side after SIGTERM: %v exit %d", s.State, s.ExitCode)
	}
	if time.Since(start) > 8*time.Second {
		t.Fatalf("SIGTERM did not end side; it waited for the kill")
	}
	p.waitLog(t, "side-0.log", "got-term")

	// A container is restarted in the live pod, as the kubelet does.
	if _, err := runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: side}); err != nil {
		t.Fatalf("RemoveContainer: %v", err)
	}
	side = p.container(t, "side", 1, "sh", "-c", "trap '' TERM; echo second-life; while :; do sleep 1; done")
	p.waitLog(t, "side-1.log", "second-life")
	if r := exec(t, side, "true"); r.ExitCode != 0 {
		t.Fatalf("exec in the restarted container: %d", r.ExitCode)
	}
	if _, err := runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: side, Timeout: 1}); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if s := status(t, side); s.ExitCode != 137 {
		t.Fatalf("a container ignoring SIGTERM exited %d after the grace period, want 137", s.ExitCode)
	}

	p.remove(t)
	cd.AssertNoLeaks(t)
}

// TestPods runs the kubelet's calls against a pod in each isolation, with
// CRI's pause container (podsandbox) and with containerd's Sandbox API
// (sandboxer = "shim": the shim holds the pod's namespaces itself).
func TestPods(t *testing.T) {
	for _, tc := range []struct {
		handler string
		vm      bool
	}{
		{harness.HandlerProcess, false},
		{harness.HandlerHypervisor, true},
		{harness.HandlerProcessSandboxAPI, false},
		{harness.HandlerHypervisorSandboxAPI, true},
	} {
		t.Run(tc.handler, func(t *testing.T) {
			if tc.vm {
				harness.RequireBootFiles(t)
			}
			checkPod(t, tc.handler, tc.vm)
		})
	}
}

// podIP returns the pod's IP as CRI reports it.
func podIP(t *testing.T, id string) string {
	t.Helper()
	r, err := runtime.PodSandboxStatus(rpcCtx(t), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		t.Fatalf("PodSandboxStatus: %v", err)
	}
	ip := r.GetStatus().GetNetwork().GetIp()
	if ip == "" {
		t.Fatalf("pod %s has no IP", id)
	}
	return ip
}

// TestPodToPodOverTheBridge runs two VM pods on the CNI bridge: each
// guest holds its pod's IP, and one pod fetches a page from an httpd in
// the other.
func TestPodToPodOverTheBridge(t *testing.T) {
	harness.RequireBootFiles(t)
	server := runPod(t, harness.HandlerHypervisor, "server", nil)
	client := runPod(t, harness.HandlerHypervisor, "client", nil)
	cli := client.container(t, "wget", 0, "sleep", "1000")
	fetchAcross(t, server, cli)
	client.remove(t)
	server.remove(t)
	cd.AssertNoLeaks(t)
}

// fetchAcross runs an httpd in the VM pod server, checks that its guest
// holds the pod's IP, and fetches the server's hostname from container
// cli of another pod.
func fetchAcross(t *testing.T, server *pod, cli string) {
	t.Helper()
	srv := server.container(t, "httpd", 0, "sh", "-c", "mkdir /www; hostname > /www/hostname; exec httpd -f -p 8080 -h /www")
	ip := podIP(t, server.id)
	if r := exec(t, srv, "ip", "-o", "addr"); !strings.Contains(string(r.Stdout), " "+ip+"/") {
		t.Fatalf("the server's guest does not hold the pod IP %s:\n%s", ip, r.Stdout)
	}
	// Bounded tries, each bounded by ExecSync's timeout (busybox-static's
	// wget crashes with its own -T).
	var (
		r   *runtimeapi.ExecSyncResponse
		err error
	)
	for i := 0; i < 5; i++ {
		r, err = runtime.ExecSync(rpcCtx(t), &runtimeapi.ExecSyncRequest{ContainerId: cli, Timeout: 10,
			Cmd: []string{"wget", "-q", "-O", "-", "http://" + ip + ":8080/hostname"}})
		if err == nil && r.ExitCode == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil || r.ExitCode != 0 || strings.TrimSpace(string(r.Stdout)) != server.config.Hostname {
		t.Fatalf("client pod fetching from %s: %v %v", ip, r, err)
	}
}

// TestBadPodsAreRefused: a VM size out of range, an unknown isolation
// value, and a pod sharing the node's network, IPC or PID namespace in a
// VM (whose containers would silently get the guest's instead) are each
// refused at RunPodSandbox with the reason, with a pause container and
// with the Sandbox API, and a pod already running keeps running.
func TestBadPodsAreRefused(t *testing.T) {
	harness.RequireBootFiles(t)
	running := runPod(t, harness.HandlerHypervisor, "steady", nil)
	steady := running.container(t, "app", 0, "sleep", "1000")
	tests := []struct {
		name        string
		annotations map[string]string
		node        *runtimeapi.NamespaceOption // the namespaces shared with the node
		want        []string
	}{
		{"impossible VM size", map[string]string{"io.winctr.vm.memory-mb": "9"}, nil, []string{"memory 9 MB"}},
		{"unknown isolation", map[string]string{"io.winctr.isolation": "bogus"}, nil, []string{"io.winctr.isolation", "bogus"}},
		{"hostNetwork in a VM", nil, &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
			[]string{"host's network namespace (hostNetwork) cannot run in a utility VM"}},
		{"hostIPC in a VM", nil, &runtimeapi.NamespaceOption{Ipc: runtimeapi.NamespaceMode_NODE},
			[]string{"host's IPC namespace (hostIPC) cannot run in a utility VM"}},
		{"hostPID in a VM", nil, &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_NODE},
			[]string{"host's PID namespace (hostPID) cannot run in a utility VM"}},
	}
	for _, handler := range []string{harness.HandlerHypervisor, harness.HandlerHypervisorSandboxAPI} {
		for i, tt := range tests {
			t.Run(handler+"/"+tt.name, func(t *testing.T) {
				cfg := &runtimeapi.PodSandboxConfig{
					Metadata:     &runtimeapi.PodSandboxMetadata{Name: "bad" + strconv.Itoa(i), Namespace: "default", Uid: "bad-uid-" + strconv.Itoa(i)},
					LogDirectory: t.TempDir(),
					Annotations:  tt.annotations,
					Linux:        &runtimeapi.LinuxPodSandboxConfig{},
				}
				if tt.node != nil {
					cfg.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: tt.node}
				}
				expectRefused(t, handler, cfg, tt.want...)
			})
		}
	}
	if r := exec(t, steady, "true"); r.ExitCode != 0 {
		t.Fatalf("the running pod stopped answering: %d", r.ExitCode)
	}
	running.remove(t)
	cd.AssertNoLeaks(t)
}

// TestHostNetworkPodProcessIsolation: a hostNetwork pod on the host kernel
// shares the host's network namespace.
func TestHostNetworkPodProcessIsolation(t *testing.T) {
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "hostnet", Namespace: "default", Uid: "hostnet-uid"},
		LogDirectory: t.TempDir(),
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE}}},
	}
	resp, err := runtime.RunPodSandbox(rpcCtx(t), &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: harness.HandlerProcess})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	p := &pod{id: resp.PodSandboxId, config: cfg}
	t.Cleanup(func() { p.remove(t) })
	c := p.container(t, "app", 0, "sleep", "1000")
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(exec(t, c, "readlink", "/proc/self/ns/net").Stdout)); got != host {
		t.Fatalf("hostNetwork container in %q, want the host's %q", got, host)
	}
	p.remove(t)
	cd.AssertNoLeaks(t)
}

// TestShimKilledUnderAPod kills the shim of a running pod: the kubelet's
// stop and remove (retried, as the kubelet retries) must then succeed and
// leave nothing behind (VM, pod cgroup, state, network).
func TestShimKilledUnderAPod(t *testing.T) {
	harness.RequireBootFiles(t)
	for _, handler := range []string{harness.HandlerHypervisor, harness.HandlerHypervisorSandboxAPI, harness.HandlerProcessSandboxAPI} {
		t.Run(handler, func(t *testing.T) {
			p := runPod(t, handler, "killed"+strings.ReplaceAll(handler, "-", ""), nil)
			p.container(t, "app", 0, "sleep", "1000")
			shims := cd.Shims()
			if len(shims) != 1 {
				t.Fatalf("%d shims for one pod", len(shims))
			}
			if err := unix.Kill(shims[0], unix.SIGKILL); err != nil {
				t.Fatal(err)
			}
			var err error
			for i := 0; i < 30; i++ {
				ctx := rpcCtx(t)
				if _, err = runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id}); err == nil {
					if _, err = runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id}); err == nil {
						break
					}
				}
				time.Sleep(time.Second)
			}
			if err != nil {
				t.Fatalf("pod of a killed shim not removed: %v", err)
			}
			cd.AssertNoLeaks(t)
		})
	}
}
