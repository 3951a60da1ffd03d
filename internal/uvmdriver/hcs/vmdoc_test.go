package hcs

import (
	"testing"

	"github.com/containerd/errdefs"

	"github.com/winctr/winctr/internal/hcs/hcstest"
	"github.com/winctr/winctr/internal/hcs/schema"
)

// Image layers as containerd's windows snapshotter lays them out.
var layers = []schema.Layer{
	{Id: "8f2b4c3a-77a1-5d0e-9f6e-0f5d1c2b3a41", Path: `C:\ProgramData\containerd\root\io.containerd.snapshotter.v1.windows\snapshots\2`},
	{Id: "1a9e0b7c-5d3f-5e2a-8c4b-6d7e8f9a0b12", Path: `C:\ProgramData\containerd\root\io.containerd.snapshotter.v1.windows\snapshots\1`},
}

func TestVMDocuments(t *testing.T) {
	for _, tc := range []struct {
		golden string
		build  func() (any, error)
	}{
		{"wcow-uvm.json", func() (any, error) {
			return WCOWUtilityVM(WCOWVM{
				Base:          Base{MemoryMB: 1536, CPUs: 2, Scratch: `C:\ProgramData\winctr\vm\pod1\sandbox.vhdx`},
				UtilityVMPath: layers[1].Path + `\UtilityVM`,
			})
		}},
		{"lcow-uvm-kernel-direct.json", func() (any, error) {
			return LCOWUtilityVM(LCOWVM{
				Base:         Base{MemoryMB: 512, CPUs: 1, ConsolePipe: `\\.\pipe\winctr-pod1-console`},
				BootFiles:    `C:\Program Files\winctr\lcow\`,
				KernelDirect: true,
			})
		}},
		{"lcow-uvm-uefi.json", func() (any, error) {
			return LCOWUtilityVM(LCOWVM{BootFiles: `C:\Program Files\winctr\lcow`, KernelArgs: " loglevel=7 "})
		}},
		{"modify-plan9-add.json", func() (any, error) { return AddPlan9Share("c-1", `C:\ProgramData\winctr\vm\pod1\c-1`, true, true), nil }},
		{"modify-plan9-add-ntfs.json", func() (any, error) { return AddPlan9Share("c-2", `D:\data`, false, false), nil }},
		{"modify-lcow-layer-add.json", func() (any, error) {
			return AddSCSIDisk(`C:\ProgramData\containerd\root\io.containerd.snapshotter.v1.lcow\snapshots\1\layer.vhd`, 2, true), nil
		}},
		{"modify-lcow-layer-remove.json", func() (any, error) { return RemoveSCSIDisk(2), nil }},
		{"modify-guest-netns-add.json", func() (any, error) {
			return AddGuestNetworkNamespace(map[string]any{"ID": "0c2e8a8c-1bd8-4e55-a3b6-2bb5e1c7d5a4", "Type": "HostDefault"}), nil
		}},
		{"modify-nic-preadd.json", func() (any, error) {
			return PreAddNIC("5f0e2a1b-7c3d-4e8f-9a0b-1c2d3e4f5a6b", map[string]any{"ID": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", "MacAddress": "00-15-5D-52-C0-00"}), nil
		}},
		{"modify-nic-add-windows.json", func() (any, error) {
			return AddNIC("5f0e2a1b-7c3d-4e8f-9a0b-1c2d3e4f5a6b", "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", "00-15-5D-52-C0-00", true), nil
		}},
		{"modify-nic-add-linux.json", func() (any, error) {
			return AddNIC("5f0e2a1b-7c3d-4e8f-9a0b-1c2d3e4f5a6b", "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", "00-15-5D-52-C0-00", false), nil
		}},
		{"modify-plan9-remove.json", func() (any, error) { return RemovePlan9Share("c-1"), nil }},
		{"modify-vsmb-add.json", func() (any, error) { return AddVSMBShare("l-0", layers[0].Path, true), nil }},
		{"modify-vsmb-add-rw.json", func() (any, error) { return AddVSMBShare("m-0", `D:\logs`, false), nil }},
		{"modify-scratch-add.json", func() (any, error) {
			return AddScratchDisk(`C:\ProgramData\containerd\root\io.containerd.snapshotter.v1.windows\snapshots\3\sandbox.vhdx`, 1, GuestContainerRoot(1)), nil
		}},
		{"modify-scratch-remove.json", func() (any, error) { return RemoveScratchDisk(1, GuestContainerRoot(1)), nil }},
		{"modify-combine-layers.json", func() (any, error) {
			return CombineLayers(GuestContainerRoot(1), []schema.Layer{{Id: layers[0].Id, Path: VSMBGuestPath("l-0")}}, true), nil
		}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			doc, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			hcstest.Golden(t, tc.golden, doc)
		})
	}
}

func TestVMRefusals(t *testing.T) {
	if _, err := WCOWUtilityVM(WCOWVM{}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Windows VM without an image: %v", err)
	}
	if _, err := LCOWUtilityVM(LCOWVM{}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Linux VM without boot files: %v", err)
	}
}
