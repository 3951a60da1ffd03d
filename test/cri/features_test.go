//go:build e2e

package cri

import (
	"encoding/json"
	osexec "os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/test/harness"
)

// TestHandlerFeatures: containerd's CRI learns each handler's features
// from the shim's -info, as it does from the runc shim's: the process
// handlers report what the host's runc (the one the shims find) reports (recursive read-only
// mounts where runc lists "rro"; user namespaces where it supports user
// namespaces and idmapped mounts), the VM handlers recursive read-only
// mounts (the host's binds make them) and no user namespaces.
func TestHandlerFeatures(t *testing.T) {
	runc, err := harness.Tool("runc")
	if err != nil {
		t.Skip(err)
	}
	out, err := osexec.Command(runc, "features").Output()
	if err != nil {
		t.Skipf("runc features: %v", err)
	}
	var f features.Features
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatal(err)
	}
	rro := slices.Contains(f.MountOptions, "rro")
	userns := f.Linux != nil && slices.Contains(f.Linux.Namespaces, "user") &&
		f.Linux.MountExtensions != nil && f.Linux.MountExtensions.IDMap != nil &&
		f.Linux.MountExtensions.IDMap.Enabled != nil && *f.Linux.MountExtensions.IDMap.Enabled

	// containerd offers rro only where the kernel has mount_setattr.
	kernelRRO := unix.MountSetattr(-1, "", 0, &unix.MountAttr{}) != unix.ENOSYS
	st, err := runtime.Status(rpcCtx(t), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*runtimeapi.RuntimeHandlerFeatures{}
	for _, h := range st.GetRuntimeHandlers() {
		got[h.GetName()] = h.GetFeatures()
	}
	for _, tc := range []struct {
		handler     string
		rro, userns bool
	}{
		{harness.HandlerProcess, rro, userns},
		{harness.HandlerProcessSandboxAPI, rro, userns},
		{harness.HandlerProcessPlain, rro, userns},
		{harness.HandlerHypervisor, true, false},
		{harness.HandlerHypervisorSandboxAPI, true, false},
	} {
		h, ok := got[tc.handler]
		if !ok {
			t.Fatalf("CRI lists no handler %q: %v", tc.handler, got)
		}
		// containerd also asks the kernel about rro (mount_setattr);
		// what it may not do is offer a feature runc lacks.
		if h.GetRecursiveReadOnlyMounts() && !tc.rro || h.GetUserNamespaces() != tc.userns {
			t.Errorf("%s: recursive read-only %v (runc: %v), user namespaces %v (want %v)",
				tc.handler, h.GetRecursiveReadOnlyMounts(), tc.rro, h.GetUserNamespaces(), tc.userns)
		}
		if tc.rro && kernelRRO && !h.GetRecursiveReadOnlyMounts() {
			t.Errorf("%s: runc lists rro and the kernel has mount_setattr, but CRI does not offer it", tc.handler)
		}
	}
}

// TestUserNamespacedPod: a pod with hostUsers: false under a process
// handler whose runc supports it (the one make deps builds does) runs in
// a user namespace of its own: root in the container is an unprivileged
// id on the host. containerd's CRI carries the stdio owner of such a
// container in the runc shim's options, which it makes up only for a
// handler without an options table of its own.
func TestUserNamespacedPod(t *testing.T) {
	st, err := runtime.Status(rpcCtx(t), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range st.GetRuntimeHandlers() {
		if h.GetName() == harness.HandlerProcessPlain && !h.GetFeatures().GetUserNamespaces() {
			t.Skip("the host's runc offers no idmapped mounts (make deps builds one that does)")
		}
	}
	name := "userns-host"
	mapping := []*runtimeapi.IDMapping{{HostId: 200000, ContainerId: 0, Length: 65536}}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: name + "-uid"},
		LogDirectory: t.TempDir(),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: cd.CRI().CgroupParent + "/" + name,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
				UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: mapping, Gids: mapping}}},
		},
	}
	resp, err := runtime.RunPodSandbox(rpcCtx(t), &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: harness.HandlerProcessPlain})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	p := &pod{id: resp.PodSandboxId, config: cfg}
	t.Cleanup(func() { p.remove(t) })
	ctx := rpcCtx(t)
	// CRI wants the container's user namespace options to be the pod's.
	cc, err := runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, SandboxConfig: cfg,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
			Image:    &runtimeapi.ImageSpec{Image: busybox},
			Command:  []string{"sleep", "1000"},
			LogPath:  "app.log",
			Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				NamespaceOptions: cfg.Linux.SecurityContext.NamespaceOptions}},
		}})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if _, err := runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cc.ContainerId}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	c := cc.ContainerId
	r := exec(t, c, "cat", "/proc/self/uid_map")
	if f := strings.Fields(string(r.Stdout)); len(f) != 3 || f[0] != "0" || f[1] != "200000" || f[2] != "65536" {
		t.Fatalf("uid_map %q, want 0 200000 65536", r.Stdout)
	}
	p.remove(t)
	cd.AssertNoLeaks(t)
}
