package task

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The files a pod's containers see at /etc/hostname, /etc/hosts and
// /etc/resolv.conf. With a pause container CRI writes and mounts them;
// with the Sandbox API that is the sandbox's job, so the shim writes them
// into the sandbox's bundle and mounts them into each workload container.
var podFiles = []string{"hostname", "hosts", "resolv.conf"}

// writePodFiles writes the pod's files into dir: the hostname, the host's
// hosts file, and resolv.conf from the pod's DNS config (the host's when
// the pod has none), as CRI does for pods with a pause container.
func writePodFiles(dir string, pod *runtimeapi.PodSandboxConfig) error {
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		hosts = []byte("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")
	}
	resolv, err := resolvConf(pod.GetDnsConfig())
	if err != nil {
		return err
	}
	hostname := pod.GetHostname()
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	for name, data := range map[string][]byte{
		"hostname":    []byte(hostname + "\n"),
		"hosts":       hosts,
		"resolv.conf": resolv,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("pod file %s: %w", name, err)
		}
	}
	return nil
}

func resolvConf(dns *runtimeapi.DNSConfig) ([]byte, error) {
	if dns == nil {
		b, err := os.ReadFile("/etc/resolv.conf")
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		return b, nil
	}
	var b bytes.Buffer
	if len(dns.GetSearches()) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dns.GetSearches(), " "))
	}
	for _, s := range dns.GetServers() {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(dns.GetOptions()) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dns.GetOptions(), " "))
	}
	return b.Bytes(), nil
}

// withPodFiles adds bind mounts of the pod's files to a workload
// container's spec, leaving any destination the spec mounts already.
// It reports whether it changed the spec.
func withPodFiles(spec *specs.Spec, dir string) bool {
	changed := false
	for _, name := range podFiles {
		dest := "/etc/" + name
		mounted := false
		for _, m := range spec.Mounts {
			if filepath.Clean(m.Destination) == dest {
				mounted = true
			}
		}
		if mounted {
			continue
		}
		spec.Mounts = append(spec.Mounts, specs.Mount{
			Destination: dest, Type: "bind", Source: filepath.Join(dir, name),
			Options: []string{"rbind", "rprivate", "rw"},
		})
		changed = true
	}
	return changed
}
