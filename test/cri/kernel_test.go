//go:build e2e

package cri

import (
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/test/harness"
)

// TestContainersThatManageTheirNetwork: a privileged container makes a
// bridge, a veth pair and a tap device in its pod's network, and one given
// only CAP_NET_ADMIN the bridge and veth pair (it has no /dev/net/tun, as
// on a Linux host), in both isolations: in a VM pod it is the guest's
// kernel that must have them (its modules loaded before the container).
func TestContainersThatManageTheirNetwork(t *testing.T) {
	const links = "brctl addbr br0 && ip link add v0 type veth peer name v1 && ip link set v0 master br0"
	const count = " && ip -o link show | grep -c -e br0 -e v0@v1 -e tap0"
	for _, tc := range []struct {
		handler string
		vm      bool
	}{
		{harness.HandlerProcess, false},
		{harness.HandlerHypervisor, true},
		{harness.HandlerHypervisorSandboxAPI, true},
	} {
		for _, privileged := range []bool{true, false} {
			name := "netadmin"
			if privileged {
				name = "privileged"
			}
			t.Run(tc.handler+"/"+name, func(t *testing.T) {
				if tc.vm {
					harness.RequireBootFiles(t)
				}
				p := runPodWith(t, tc.handler, name, func(c *runtimeapi.PodSandboxConfig) {
					c.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{Privileged: privileged}
				})
				sc := &runtimeapi.LinuxContainerSecurityContext{Privileged: privileged}
				if !privileged {
					sc.Capabilities = &runtimeapi.Capability{AddCapabilities: []string{"NET_ADMIN"}}
				}
				c := p.containerWith(t, "app", 0, func(c *runtimeapi.ContainerConfig) {
					c.Linux.SecurityContext = sc
				}, "sleep", "1000")
				script, want := links+count, "2"
				if privileged {
					script, want = links+" && tunctl -t tap0 >/dev/null"+count, "3"
				}
				r := exec(t, c, "sh", "-c", script)
				if r.ExitCode != 0 || strings.TrimSpace(string(r.Stdout)) != want {
					t.Fatalf("bridge, veth and tap: exit %d, %q %q", r.ExitCode, r.Stdout, r.Stderr)
				}
				// The image has no iptables or nft: that netfilter is
				// there is read from the guest kernel's symbols, which
				// list a module's whether it was loaded or built in.
				if r := exec(t, c, "grep", "-c", "-w", "-e", "nft_register_chain_type", "-e", "ipt_register_table", "/proc/kallsyms"); tc.vm && strings.TrimSpace(string(r.Stdout)) != "2" {
					t.Fatalf("the guest's netfilter modules: %q %q", r.Stdout, r.Stderr)
				}
				p.remove(t)
				cd.AssertNoLeaks(t)
			})
		}
	}
}

// TestReadOnlyVolumes: a read-only volume whose host directory has a
// tmpfs mounted under it keeps the tmpfs writable, as Kubernetes' readOnly
// does on runc; with recursiveReadOnly the tmpfs is read-only too; and
// nothing of the pod holds the host's mounts once its container is
// removed. Both isolations.
func TestReadOnlyVolumes(t *testing.T) {
	for _, tc := range []struct {
		handler string
		vm      bool
	}{
		{harness.HandlerProcess, false},
		{harness.HandlerHypervisor, true},
	} {
		t.Run(tc.handler, func(t *testing.T) {
			if tc.vm {
				harness.RequireBootFiles(t)
			}
			d := harness.NewSubmountedDir(t)
			src := d.Dir
			p := runPod(t, tc.handler, "readonly", nil)
			c := p.containerWith(t, "app", 0, func(c *runtimeapi.ContainerConfig) {
				c.Mounts = []*runtimeapi.Mount{
					{HostPath: src, ContainerPath: "/ro", Readonly: true},
					{HostPath: src, ContainerPath: "/rro", Readonly: true, RecursiveReadOnly: true},
				}
			}, "sleep", "1000")
			const probe = "for m in /ro /rro; do touch $m/top 2>/dev/null && echo $m-top; touch $m/sub/f 2>/dev/null && echo $m-sub; done; true"
			r := exec(t, c, "sh", "-c", probe)
			if got := strings.Join(strings.Fields(string(r.Stdout)), " "); got != "/ro-sub" {
				t.Fatalf("writable: %q (%q), want the read-only volume's submount only", got, r.Stderr)
			}
			if _, err := runtime.RemoveContainer(rpcCtx(t), &runtimeapi.RemoveContainerRequest{ContainerId: c}); err != nil {
				t.Fatal(err)
			}
			d.Release()
			p.remove(t)
			cd.AssertNoLeaks(t)
		})
	}
}
