//go:build linux

package gcs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCheckGuestSpec(t *testing.T) {
	root := t.TempDir()
	share := filepath.Join(root, "share", "c1")
	outside := t.TempDir()
	for _, d := range []string{filepath.Join(share, "rootfs"), filepath.Join(share, "mounts", "0")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A symlink in the share that points out of it, as a hostile layer or
	// host could plant.
	escape := filepath.Join(share, "mounts", "1")
	if err := os.Symlink(outside, escape); err != nil {
		t.Fatal(err)
	}
	spec := func(rootfs string, binds ...string) *specs.Spec {
		s := &specs.Spec{Root: &specs.Root{Path: rootfs}, Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}}}
		for _, b := range binds {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Source: b, Options: []string{"rbind"}})
		}
		return s
	}
	rootfs := filepath.Join(share, "rootfs")
	for _, tc := range []struct {
		name string
		id   string
		spec *specs.Spec
		ok   bool
	}{
		{"in the share", "c1", spec(rootfs, filepath.Join(share, "mounts", "0")), true},
		{"id that climbs", "../../etc", spec(rootfs), false},
		{"id with a slash", "a/b", spec(rootfs), false},
		{"root outside", "c1", spec(outside), false},
		{"bind of a guest system path", "c1", spec(rootfs, "/etc"), false},
		{"bind through an escaping symlink", "c1", spec(rootfs, escape), false},
		{"bind that does not exist", "c1", spec(rootfs, filepath.Join(share, "nope")), false},
		{"relative bind", "c1", spec(rootfs, "mounts/0"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckGuestSpec(tc.id, tc.spec, root)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errdefs.IsInvalidArgument(err) {
				t.Fatalf("got %v, want an invalid-argument error", err)
			}
		})
	}
}

func TestForRuntimeSpec11(t *testing.T) {
	for _, tc := range []struct {
		name        string
		spec        specs.Spec
		wantVersion string
		changed     bool
		refused     string
	}{
		{"containerd 2.4's", specs.Spec{Version: "1.3.0", Process: &specs.Process{}, Linux: &specs.Linux{}}, "1.1.0", true, ""},
		{"1.2 release candidate", specs.Spec{Version: "1.2.0-rc.1"}, "1.1.0", true, ""},
		{"already 1.1", specs.Spec{Version: "1.1.0"}, "1.1.0", false, ""},
		{"1.0", specs.Spec{Version: "1.0.2-dev"}, "1.0.2-dev", false, ""},
		{"unparsable, left to crun", specs.Spec{Version: "x"}, "x", false, ""},
		{"a 2.0 spec", specs.Spec{Version: "2.0.0"}, "1.1.0", true, ""},
		{"exec CPU affinity", specs.Spec{Version: "1.3.0", Process: &specs.Process{ExecCPUAffinity: &specs.CPUAffinity{Initial: "0"}}}, "", false, "process.execCPUAffinity"},
		{"net devices", specs.Spec{Version: "1.3.0", Linux: &specs.Linux{NetDevices: map[string]specs.LinuxNetDevice{"eth1": {}}}}, "", false, "linux.netDevices"},
		{"memory policy", specs.Spec{Version: "1.3.0", Linux: &specs.Linux{MemoryPolicy: &specs.LinuxMemoryPolicy{}}}, "", false, "linux.memoryPolicy"},
		{"RDT monitoring", specs.Spec{Version: "1.3.0", Linux: &specs.Linux{IntelRdt: &specs.LinuxIntelRdt{EnableMonitoring: true}}}, "", false, "intelRdt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed, err := forRuntimeSpec11(&tc.spec)
			if tc.refused != "" {
				if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("err %v, want not implemented naming %s", err, tc.refused)
				}
				return
			}
			if err != nil || changed != tc.changed || tc.spec.Version != tc.wantVersion {
				t.Fatalf("changed %v, version %q, err %v; want %v, %q", changed, tc.spec.Version, err, tc.changed, tc.wantVersion)
			}
		})
	}
}
