//go:build linux

package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// CRINamespace is the containerd namespace CRI keeps its pods in.
const CRINamespace = "k8s.io"

// The runtime handlers (RuntimeClass handlers) the CRI harness registers.
const (
	HandlerProcess    = "winctr"
	HandlerHypervisor = "winctr-vm"
	// The same with containerd's Sandbox API (sandboxer = "shim"): no
	// pause container, the shim holds the pod.
	HandlerProcessSandboxAPI    = "winctr-sb"
	HandlerHypervisorSandboxAPI = "winctr-vm-sb"
	// HandlerHypervisorPooled and HandlerHypervisorSandboxAPIPooled keep
	// one booted VM waiting for the next pod (vm_pool_size = 1).
	HandlerHypervisorPooled           = "winctr-vm-pool"
	HandlerHypervisorSandboxAPIPooled = "winctr-vm-sb-pool"
	// HandlerProcessPlain has no options table: containerd's CRI then
	// sends the runc shim's options, which user-namespaced pods need.
	HandlerProcessPlain = "winctr-plain"
)

// CNIBinDir is where Debian's containernetworking-plugins puts them.
const CNIBinDir = "/usr/lib/cni"

// CRI is the CRI side of a harness containerd: winctr's runtime handlers
// and a CNI bridge network of its own, removed on Close.
type CRI struct {
	// Bridge is the CNI bridge's name; Subnet its pods' addresses.
	Bridge, Subnet string
	// CgroupParent is the cgroup under which tests put their pods, one
	// per pod below it: CgroupParent + "/" + pod name.
	CgroupParent string
	confDir      string
	netnsBefore  map[string]bool
}

// StartCRI starts a containerd with its CRI plugin serving on Socket,
// winctr registered as the handlers HandlerProcess and HandlerHypervisor,
// the busybox and pause images imported for CRI, and a bridge network.
func StartCRI(ctx context.Context) (*Containerd, error) {
	n := os.Getpid()
	cri := &CRI{
		Bridge: fmt.Sprintf("wctr%d", n%100000),
		Subnet: fmt.Sprintf("10.%d.%d.0/24", 100+n%100, (n/100)%250),
		// The pods' parents are left to their owner (the kubelet, here the
		// harness), as runc leaves them; what is below them is winctr's.
		CgroupParent: fmt.Sprintf("/winctr-e2e-%d", n),
	}
	return start(ctx, cri)
}

// setup writes the CNI config and returns containerd's CRI config.
func (c *CRI) setup(dir string) (string, error) {
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(CNIBinDir, plugin)); err != nil {
			return "", fmt.Errorf("CNI plugin %s missing (apt-get install containernetworking-plugins): %w", plugin, err)
		}
	}
	c.confDir = filepath.Join(dir, "cni")
	if err := os.MkdirAll(c.confDir, 0o755); err != nil {
		return "", err
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "winctr-e2e",
		"plugins": []any{map[string]any{
			"type":      "bridge",
			"bridge":    c.Bridge,
			"isGateway": true,
			// Pods talk to each other and to the host only.
			"ipMasq": false,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": c.Subnet}}},
				"dataDir": filepath.Join(dir, "cni-ipam"),
			},
		}},
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(c.confDir, "10-winctr.conflist"), b, 0o644); err != nil {
		return "", err
	}
	c.netnsBefore = netnsNames()
	return fmt.Sprintf(`
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "docker.io/local/pause:latest"

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [%q]
    conf_dir = %q
%s%s%s%s%s%[8]s%[9]s%[8]s`, CNIBinDir, c.confDir,
		RuntimeConfig(HandlerProcess, "process", ""), RuntimeConfig(HandlerHypervisor, "hypervisor", ""),
		RuntimeConfig(HandlerProcessSandboxAPI, "process", "shim"), RuntimeConfig(HandlerHypervisorSandboxAPI, "hypervisor", "shim"),
		RuntimeConfig(HandlerHypervisorPooled, "hypervisor", ""), "      vm_pool_size = 1\n",
		RuntimeConfig(HandlerHypervisorSandboxAPIPooled, "hypervisor", "shim")) + fmt.Sprintf(`  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.%s]
    runtime_type = "io.containerd.winctr.v1"
`, HandlerProcessPlain), nil
}

// CRIBootFiles, when set before StartCRI, is the boot files directory of
// the CRI harness's handlers, for their VMs (BootFilesEnv's, or the
// runtime's default otherwise).
var CRIBootFiles = os.Getenv(BootFilesEnv)

// The annotations the harness's handlers allow pods: the VM's size and,
// so that the suite can see a path refused, the boot files keys (whose
// paths the options still confine); the process handlers also let a pod
// raise its isolation to a VM of its own.
const (
	vmAllowed      = `["io.winctr.vm.processor-count", "io.winctr.vm.memory-mb", "io.microsoft.virtualmachine.computetopology.*", "io.winctr.bootfiles-root-path", "io.microsoft.virtualmachine.bootfilesrootpath"]`
	processAllowed = `["io.winctr.vm.processor-count", "io.winctr.vm.memory-mb", "io.winctr.isolation"]`
)

// RuntimeConfig is the containerd config that registers winctr as a CRI
// runtime handler with the given isolation and sandboxer ("" for CRI's
// default podsandbox, "shim" for the Sandbox API). CRI passes a pod's
// annotations into its spec only where pod_annotations lets them through;
// the harness lets all of winctr's and hcsshim's through, wider than the
// README advises, so that the suite tests the shim's own allow-list.
func RuntimeConfig(handler, isolation, sandboxer string) string {
	sb := ""
	if sandboxer != "" {
		sb = fmt.Sprintf("    sandboxer = %q\n", sandboxer)
	}
	opts := fmt.Sprintf("      isolation = %q\n", isolation)
	if isolation == "hypervisor" {
		opts += fmt.Sprintf("      allowed_annotations = %s\n", vmAllowed)
	} else {
		opts += fmt.Sprintf("      allowed_annotations = %s\n", processAllowed)
	}
	// A process handler's pods may raise their isolation to a VM, which
	// boots from the same files.
	if CRIBootFiles != "" {
		opts += fmt.Sprintf("      boot_files_root_path = %q\n", CRIBootFiles)
	}
	return fmt.Sprintf(`  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.%[1]s]
    runtime_type = "io.containerd.winctr.v1"
%[3]s    pod_annotations = ["io.winctr.*", "io.microsoft.virtualmachine.*"]
    container_annotations = ["io.winctr.*"]
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.%[1]s.options]
%[2]s`, handler, opts, sb)
}

// netnsNames lists the named network namespaces (CRI's pod netns live
// there).
func netnsNames() map[string]bool {
	out := map[string]bool{}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		out[e.Name()] = true
	}
	return out
}

// cgroupRoots are where CgroupParent lives: the memory hierarchy on
// cgroup v1, the unified one on v2.
func (c *CRI) cgroupRoots() []string {
	var roots []string
	for _, r := range []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup"} {
		if _, err := os.Stat(filepath.Join(r, c.CgroupParent)); err == nil {
			roots = append(roots, filepath.Join(r, c.CgroupParent))
		}
	}
	return roots
}

// leaks lists pod network namespaces, bridge ports and cgroups left
// behind.
func (c *CRI) leaks() []string {
	var out []string
	for _, root := range c.cgroupRoots() {
		pods, _ := os.ReadDir(root)
		for _, p := range pods {
			if !p.IsDir() {
				continue
			}
			inner, _ := os.ReadDir(filepath.Join(root, p.Name()))
			for _, e := range inner {
				if e.IsDir() {
					out = append(out, "cgroup "+filepath.Join(root, p.Name(), e.Name()))
				}
			}
		}
	}
	for name := range netnsNames() {
		if !c.netnsBefore[name] {
			out = append(out, "network namespace /run/netns/"+name)
		}
	}
	if br, err := netlink.LinkByName(c.Bridge); err == nil {
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				out = append(out, "bridge port "+l.Attrs().Name)
			}
		}
	}
	return out
}

// close removes the bridge CNI created for this containerd, and the pods'
// (empty) parent cgroups in every hierarchy.
func (c *CRI) close() {
	removeEmptyCgroups(c.CgroupParent)
	if br, err := netlink.LinkByName(c.Bridge); err == nil {
		_ = netlink.LinkDel(br)
	}
}

// CRI returns the CRI side of a harness started with StartCRI.
func (c *Containerd) CRI() *CRI { return c.cri }

// CRIConn dials containerd's CRI (gRPC) on Socket.
func (c *Containerd) CRIConn() (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+c.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// removeEmptyCgroups removes the cgroup parent and the empty cgroups one
// level below it, in every hierarchy. rmdir of a cgroup in use fails, so
// nothing in use is touched.
func removeEmptyCgroups(parent string) {
	hierarchies, _ := os.ReadDir("/sys/fs/cgroup")
	for _, h := range append(hierarchies, nil) {
		base := filepath.Join("/sys/fs/cgroup", parent)
		if h != nil {
			base = filepath.Join("/sys/fs/cgroup", h.Name(), parent)
		}
		children, _ := os.ReadDir(base)
		for _, ch := range children {
			if ch.IsDir() {
				_ = os.Remove(filepath.Join(base, ch.Name()))
			}
		}
		_ = os.Remove(base)
	}
}
