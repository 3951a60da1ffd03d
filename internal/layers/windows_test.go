package layers

import (
	"reflect"
	"testing"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestWindowsLayersOf(t *testing.T) {
	snap := `C:\ProgramData\containerd\root\io.containerd.snapshotter.v1.windows\snapshots\`
	want := WindowsLayers{Scratch: snap + "3", Parents: []string{snap + "2", snap + "1"}}
	for _, tc := range []struct {
		name   string
		rootfs []*types.Mount
		spec   *specs.Spec
		want   WindowsLayers
		err    bool
	}{
		{"snapshotter mount", []*types.Mount{{Type: "windows-layer", Source: snap + "3",
			Options: []string{"rw", `parentLayerPaths=["` + `C:\\ProgramData\\containerd\\root\\io.containerd.snapshotter.v1.windows\\snapshots\\2","C:\\ProgramData\\containerd\\root\\io.containerd.snapshotter.v1.windows\\snapshots\\1"]`}}},
			nil, want, false},
		{"layer folders", nil, &specs.Spec{Windows: &specs.Windows{LayerFolders: []string{snap + "2", snap + "1", snap + "3"}}}, want, false},
		{"overlay mount", []*types.Mount{{Type: "overlay", Source: "overlay"}}, nil, WindowsLayers{}, true},
		{"two mounts", []*types.Mount{{Type: "windows-layer"}, {Type: "windows-layer"}}, nil, WindowsLayers{}, true},
		{"bad option", []*types.Mount{{Type: "windows-layer", Source: snap + "3", Options: []string{"parentLayerPaths=[oops"}}}, nil, WindowsLayers{}, true},
		{"no parents", []*types.Mount{{Type: "windows-layer", Source: snap + "3"}}, nil, WindowsLayers{}, true},
		{"relative path", nil, &specs.Spec{Windows: &specs.Windows{LayerFolders: []string{`..\base`, snap + "3"}}}, WindowsLayers{}, true},
		{"nothing", nil, &specs.Spec{}, WindowsLayers{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := WindowsLayersOf(tc.rootfs, tc.spec)
			if tc.err {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("got %v, want an invalid-argument error", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if got := want.UtilityVMPath(); got != snap+`1\UtilityVM` {
		t.Errorf("UtilityVMPath = %q", got)
	}
}

func TestLCOWLayersOf(t *testing.T) {
	snap := `C:\ProgramData\containerd\root\io.containerd.snapshotter.v1.lcow\snapshots\`
	l, err := LCOWLayersOf([]*types.Mount{{Type: "lcow-layer", Source: snap + "9",
		Options: []string{"rw", `parentLayerPaths=["C:\\ProgramData\\containerd\\root\\io.containerd.snapshotter.v1.lcow\\snapshots\\8"]`}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	vhds, scratch := l.LayerVHDs(), l.ScratchDisk()
	if !reflect.DeepEqual(vhds, []string{snap + `8\layer.vhd`}) || scratch != snap+`9\sandbox.vhdx` {
		t.Errorf("got %v, %s", vhds, scratch)
	}
	if _, err := LCOWLayersOf([]*types.Mount{{Type: "windows-layer", Source: snap + "9"}}, nil); !errdefs.IsInvalidArgument(err) {
		t.Errorf("a Windows layer for a Linux container: %v", err)
	}
}
