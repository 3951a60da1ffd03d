//go:build linux

package main

import (
	"os"
	"path/filepath"
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
			err := checkGuestSpec(tc.id, tc.spec, root)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errdefs.IsInvalidArgument(err) {
				t.Fatalf("got %v, want an invalid-argument error", err)
			}
		})
	}
}
