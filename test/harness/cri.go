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
)

// CNIBinDir is where Debian's containernetworking-plugins puts them.
const CNIBinDir = "/usr/lib/cni"

// CRI is the CRI side of a harness containerd: winctr's runtime handlers
// and a CNI bridge network of its own, removed on Close.
type CRI struct {
	// Bridge is the CNI bridge's name; Subnet its pods' addresses.
	Bridge, Subnet string
	confDir        string
	netnsBefore    map[string]bool
}

// StartCRI starts a containerd with its CRI plugin serving on Socket,
// winctr registered as the handlers HandlerProcess and HandlerHypervisor,
// the busybox and pause images imported for CRI, and a bridge network.
func StartCRI(ctx context.Context) (*Containerd, error) {
	n := os.Getpid()
	cri := &CRI{
		Bridge: fmt.Sprintf("wctr%d", n%100000),
		Subnet: fmt.Sprintf("10.%d.%d.0/24", 100+n%100, (n/100)%250),
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
%s%s`, CNIBinDir, c.confDir, RuntimeConfig(HandlerProcess, "process"), RuntimeConfig(HandlerHypervisor, "hypervisor")), nil
}

// RuntimeConfig is the containerd config that registers winctr as a CRI
// runtime handler with the given isolation; README shows the same. CRI
// passes a pod's annotations into its spec only where pod_annotations
// lets them through.
func RuntimeConfig(handler, isolation string) string {
	return fmt.Sprintf(`  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.%[1]s]
    runtime_type = "io.containerd.winctr.v1"
    pod_annotations = ["io.winctr.*", "io.microsoft.virtualmachine.*"]
    container_annotations = ["io.winctr.*"]
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.%[1]s.options]
      isolation = %[2]q
`, handler, isolation)
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

// leaks lists pod network namespaces and bridge ports left behind.
func (c *CRI) leaks() []string {
	var out []string
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

// close removes the bridge CNI created for this containerd.
func (c *CRI) close() {
	if br, err := netlink.LinkByName(c.Bridge); err == nil {
		_ = netlink.LinkDel(br)
	}
}

// CRIConn dials containerd's CRI (gRPC) on Socket.
func (c *Containerd) CRIConn() (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+c.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
}
