package lcow

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/winctr/winctr/internal/containerhost"
)

func TestGuestSpecNamespaces(t *testing.T) {
	podPid := func(pid int) bool { return pid == 42 }
	ns := func(typ specs.LinuxNamespaceType, path string) specs.LinuxNamespace {
		return specs.LinuxNamespace{Type: typ, Path: path}
	}
	tests := []struct {
		name       string
		sandbox    bool
		in         []specs.LinuxNamespace
		want       []specs.LinuxNamespace
		wantNetNS  string
		wantErrHas string
	}{
		{"plain container keeps new namespaces", false,
			[]specs.LinuxNamespace{ns("pid", ""), ns("network", ""), ns("mount", "")},
			[]specs.LinuxNamespace{ns("pid", ""), ns("network", ""), ns("mount", "")}, "", ""},
		{"CRI sandbox: pod netns recorded, guest network used", true,
			[]specs.LinuxNamespace{ns("pid", ""), ns("ipc", ""), ns("uts", ""), ns("network", "/var/run/netns/cni-1"), ns("mount", "")},
			[]specs.LinuxNamespace{ns("pid", ""), ns("ipc", ""), ns("uts", ""), ns("mount", "")}, "/var/run/netns/cni-1", ""},
		{"workload joins the sandbox's namespaces in the guest", false,
			[]specs.LinuxNamespace{ns("pid", "/proc/42/ns/pid"), ns("ipc", "/proc/42/ns/ipc"), ns("uts", "/proc/42/ns/uts"), ns("network", "/proc/42/ns/net"), ns("mount", "")},
			[]specs.LinuxNamespace{ns("pid", "/proc/42/ns/pid"), ns("ipc", "/proc/42/ns/ipc"), ns("uts", "/proc/42/ns/uts"), ns("mount", "")}, "", ""},
		{"a host process's namespace is refused", false,
			[]specs.LinuxNamespace{ns("network", "/proc/1/ns/net")}, nil, "", "network namespace (/proc/1/ns/net)"},
		{"a named host netns outside a CRI sandbox is refused", false,
			[]specs.LinuxNamespace{ns("network", "/var/run/netns/other")}, nil, "", "network namespace"},
		{"a crafted path is refused", false,
			[]specs.LinuxNamespace{ns("ipc", "/proc/42/ns/../../1/ns/ipc")}, nil, "", "ipc namespace"},
		{"hostNetwork sandbox is refused", true,
			[]specs.LinuxNamespace{ns("pid", ""), ns("mount", "")}, nil, "", "hostNetwork"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &specs.Spec{Root: &specs.Root{Path: "rootfs"}, Linux: &specs.Linux{Namespaces: tt.in}}
			if tt.sandbox {
				spec.Annotations = map[string]string{containerhost.AnnotationContainerType: containerhost.ContainerTypeSandbox}
			}
			g, err := guestSpec(spec, "/run/winctr/share/c1", podPid, nil)
			if tt.wantErrHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrHas) || !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("error %v, want an invalid argument naming %q", err, tt.wantErrHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var out specs.Spec
			if err := json.Unmarshal(g.spec, &out); err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(out.Linux.Namespaces)
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) || g.podNetNS != tt.wantNetNS {
				t.Fatalf("namespaces %s netns %q, want %s %q", got, g.podNetNS, want, tt.wantNetNS)
			}
			if out.Root.Path != "/run/winctr/share/c1/rootfs" {
				t.Fatalf("root %q", out.Root.Path)
			}
		})
	}
}

// FuzzGuestSpec feeds arbitrary specs through the rewrite for the guest:
// never a panic, every refusal an invalid argument, and every bind mount
// of an accepted spec sourced from the container's own share directory.
func FuzzGuestSpec(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var spec specs.Spec
		if json.Unmarshal(b, &spec) != nil || containerhost.CheckSpec(&spec) != nil {
			return
		}
		const dir = "/run/winctr/share/c1"
		g, err := guestSpec(&spec, dir, func(pid int) bool { return pid == 42 }, nil)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("refusal %v is not an invalid argument", err)
			}
			return
		}
		var out specs.Spec
		if err := json.Unmarshal(g.spec, &out); err != nil {
			t.Fatal(err)
		}
		if out.Root.Path != dir+"/rootfs" {
			t.Fatalf("root %q", out.Root.Path)
		}
		for _, m := range out.Mounts {
			if containerhost.IsBindMount(m) {
				if !strings.HasPrefix(m.Source, dir+"/mounts/") {
					t.Fatalf("bind mount from %q in the guest", m.Source)
				}
			}
		}
	})
}

// TestGuestBindOptions: read-only is the host's to enforce; the guest's
// options keep it only where the guest's one-mount view cannot make more
// of the tree read-only than the spec asked.
func TestGuestBindOptions(t *testing.T) {
	with := func(yes bool) func(string) bool { return func(string) bool { return yes } }
	tests := []struct {
		name      string
		opts      []string
		submounts func(string) bool
		want      []string
	}{
		{"rw rbind", []string{"rbind", "rw"}, with(true), []string{"rbind", "rw"}},
		{"ro rbind without submounts", []string{"rbind", "ro"}, with(false), []string{"rbind", "ro"}},
		{"ro rbind with submounts: the host's top mount only", []string{"rbind", "ro"}, with(true), []string{"rbind"}},
		{"ro rbind, submounts unknown", []string{"rbind", "ro"}, nil, []string{"rbind"}},
		{"ro bind: no submounts come along", []string{"bind", "ro"}, with(true), []string{"bind", "ro"}},
		{"rro is ro in the guest", []string{"rbind", "rro"}, with(true), []string{"rbind", "ro"}},
		{"rro and ro", []string{"rbind", "ro", "rro"}, with(true), []string{"rbind", "ro"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &specs.Spec{Root: &specs.Root{Path: "rootfs"}, Linux: &specs.Linux{},
				Mounts: []specs.Mount{{Destination: "/data", Type: "bind", Source: "/srv/data", Options: tt.opts}}}
			g, err := guestSpec(spec, "/run/winctr/share/c1", nil, tt.submounts)
			if err != nil {
				t.Fatal(err)
			}
			var out specs.Spec
			if err := json.Unmarshal(g.spec, &out); err != nil {
				t.Fatal(err)
			}
			if got := out.Mounts[0].Options; strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("guest options %v, want %v", got, tt.want)
			}
			b := g.binds[0]
			if b.source != "/srv/data" || b.readOnly != slices.Contains(tt.opts, "ro") || b.recursiveReadOnly != slices.Contains(tt.opts, "rro") || b.recursive != slices.Contains(tt.opts, "rbind") {
				t.Fatalf("host side %+v for %v", b, tt.opts)
			}
		})
	}
}
