package containerhost

import (
	"encoding/json"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64    { return &v }
func u64p(v uint64) *uint64 { return &v }

func TestCheckSpec(t *testing.T) {
	base := func() *specs.Spec {
		return &specs.Spec{
			Process: &specs.Process{Args: []string{"sh"}},
			Root:    &specs.Root{Path: "rootfs"},
			Mounts:  []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
			Linux:   &specs.Linux{},
		}
	}
	with := func(f func(*specs.Spec)) *specs.Spec { s := base(); f(s); return s }
	for _, tc := range []struct {
		name string
		spec *specs.Spec
		ok   bool
	}{
		{"plain", base(), true},
		{"bind mount", with(func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Source: "/srv/data", Options: []string{"rbind", "ro"}})
		}), true},
		{"memory unlimited", with(func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}}
		}), true},
		{"Windows spec without root path", &specs.Spec{Process: &specs.Process{CommandLine: "cmd"}, Windows: &specs.Windows{}}, true},
		{"no process", with(func(s *specs.Spec) { s.Process = nil }), false},
		{"no args", with(func(s *specs.Spec) { s.Process.Args = nil }), false},
		{"no root", with(func(s *specs.Spec) { s.Root = nil }), false},
		{"root climbs", with(func(s *specs.Spec) { s.Root.Path = "../../etc" }), false},
		{"relative destination", with(func(s *specs.Spec) { s.Mounts[0].Destination = "proc" }), false},
		{"destination climbs", with(func(s *specs.Spec) { s.Mounts[0].Destination = "/proc/../../etc" }), false},
		{"bind source climbs", with(func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Source: "/run/winctr/share/c1/../../../etc", Type: "bind"})
		}), false},
		{"relative bind source", with(func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Source: "etc", Options: []string{"bind"}})
		}), false},
		{"absurd memory", with(func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 62)}}
		}), false},
		{"negative swap", with(func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(-5)}}
		}), false},
		{"absurd shares", with(func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64p(1 << 40)}}
		}), false},
		{"negative pids limit", with(func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-7)}}
		}), false},
		{"giant console", with(func(s *specs.Spec) { s.Process.ConsoleSize = &specs.Box{Height: 1 << 20, Width: 80} }), false},
		{"soft rlimit above hard", with(func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2048, Hard: 1024}}
		}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSpec(tc.spec)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errdefs.IsInvalidArgument(err) {
				t.Fatalf("got %v, want an invalid-argument error", err)
			}
		})
	}
}

// FuzzCheckSpec feeds arbitrary JSON specs through the check every
// container's spec passes: it must never panic, and every refusal must be
// an invalid argument.
func FuzzCheckSpec(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var s specs.Spec
		if json.Unmarshal(b, &s) != nil {
			return
		}
		if err := CheckSpec(&s); err != nil && !errdefs.IsInvalidArgument(err) {
			t.Fatalf("refusal %v is not an invalid argument", err)
		}
	})
}
