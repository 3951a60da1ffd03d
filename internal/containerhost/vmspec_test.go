package containerhost

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// sandbox makes the spec a CRI pod sandbox's with only the namespaces
// given (and a mount namespace).
func sandbox(types ...specs.LinuxNamespaceType) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Annotations = map[string]string{AnnotationContainerType: ContainerTypeSandbox}
		s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
		for _, t := range types {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: t})
		}
	}
}

// TestCheckVMSpec: what a utility VM cannot give is refused at
// create with the reason; what it can passes.
func TestCheckVMSpec(t *testing.T) {
	base := func() *specs.Spec {
		return &specs.Spec{Root: &specs.Root{Path: "rootfs"}, Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}}}}
	}
	tests := []struct {
		name   string
		change func(*specs.Spec)
		want   string // empty: accepted
	}{
		{"plain", func(*specs.Spec) {}, ""},
		{"rslave and private mounts", func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "/a", Type: "bind", Source: "/x", Options: []string{"rbind", "rslave"}}}
			s.Linux.RootfsPropagation = "rslave"
		}, ""},
		{"a user namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, "hostUsers: false"},
		{"uid mappings", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		}, "hostUsers: false"},
		{"an idmapped mount", func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "/data", Type: "bind", Source: "/x", Options: []string{"rbind", "idmap"}}}
		}, "idmapped"},
		{"a Bidirectional volume", func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "/data", Type: "bind", Source: "/x", Options: []string{"rbind", "rshared"}}}
		}, "Bidirectional"},
		{"rshared rootfs", func(s *specs.Spec) { s.Linux.RootfsPropagation = "rshared" }, "rshared propagation"},
		{"a container without the pod's namespaces", func(*specs.Spec) {}, ""}, // ctr run's; the base has no ipc or network
		{"a pod sandbox of its own namespaces", sandbox(specs.NetworkNamespace, specs.IPCNamespace, specs.PIDNamespace), ""},
		{"hostNetwork sandbox", sandbox(specs.IPCNamespace, specs.PIDNamespace), "host's network namespace (hostNetwork)"},
		{"hostIPC sandbox", sandbox(specs.NetworkNamespace, specs.PIDNamespace), "host's IPC namespace (hostIPC)"},
		{"hostPID sandbox", sandbox(specs.NetworkNamespace, specs.IPCNamespace), "host's PID namespace (hostPID)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			tt.change(s)
			err := CheckVMSpec(s)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an invalid argument naming %q", err, tt.want)
			}
		})
	}
}
