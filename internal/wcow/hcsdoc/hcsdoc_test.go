package hcsdoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/winctr/winctr/internal/wcow/schema"
)

var update = flag.Bool("update", false, "rewrite the golden documents in testdata")

func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }

// nanoserver is the spec containerd's CRI writes for a Windows container,
// with what the builders map.
func nanoserver() *specs.Spec {
	return &specs.Spec{
		Hostname: "web-0",
		Process:  &specs.Process{Args: []string{"cmd", "/c", "echo hi"}, Cwd: `C:\`},
		Mounts: []specs.Mount{
			{Source: `C:\data`, Destination: `C:\data`, Options: []string{"rbind", "ro"}},
			{Type: "bind", Source: `D:\logs`, Destination: `C:\logs`},
			{Source: `\\.\pipe\docker_engine`, Destination: `\\.\pipe\docker_engine`},
		},
		Windows: &specs.Windows{
			Resources: &specs.WindowsResources{
				Memory:  &specs.WindowsMemoryResources{Limit: u64(256<<20 + 1)},
				CPU:     &specs.WindowsCPUResources{Count: u64(2), Shares: u16(500)},
				Storage: &specs.WindowsStorageResources{Iops: u64(3000)},
			},
			Network: &specs.WindowsNetwork{
				NetworkNamespace: "0c2e8a8c-1bd8-4e55-a3b6-2bb5e1c7d5a4",
				DNSSearchList:    []string{"svc.cluster.local", "cluster.local"},
			},
		},
		Annotations: map[string]string{AnnotationContainerProcessorLimit: "5000"},
	}
}

var layers = []schema.Layer{
	{Id: "8f2b4c3a-77a1-5d0e-9f6e-0f5d1c2b3a41", Path: `C:\ProgramData\containerd\root\io.containerd.snapshotter.v1.windows\snapshots\2`},
	{Id: "1a9e0b7c-5d3f-5e2a-8c4b-6d7e8f9a0b12", Path: `C:\ProgramData\containerd\root\io.containerd.snapshotter.v1.windows\snapshots\1`},
}

func TestDocuments(t *testing.T) {
	hyperv := nanoserver()
	hyperv.Windows.HyperV = &specs.WindowsHyperV{}
	hyperv.Mounts = hyperv.Mounts[:2]
	vsmb := func(host string) (string, error) {
		return VSMBGuestPath("m-" + filepath.Base(strings.ReplaceAll(host, `\`, "/"))), nil
	}
	tty := &specs.Process{
		Args: []string{"powershell"}, CommandLine: `powershell -NoLogo`, Terminal: true,
		ConsoleSize: &specs.Box{Height: 40, Width: 120},
		Env:         []string{`PATH=C:\Windows\system32;C:\Windows`, "A=b=c"},
		User:        specs.User{Username: `NT AUTHORITY\NETWORK SERVICE`},
		Cwd:         `C:\app`,
	}
	for _, tc := range []struct {
		golden string
		build  func() (any, error)
	}{
		{"process-isolated.json", func() (any, error) {
			return ProcessIsolated(Container{Spec: nanoserver(), Storage: ContainerStorage{Layers: layers, Path: `\\?\Volume{4a1a3e2c-0d1b-4f52-9c3a-6b7d8e9f0a1b}\`}})
		}},
		{"hyperv-isolated.json", func() (any, error) {
			return HyperVIsolated(Container{Spec: hyperv, Storage: ContainerStorage{
				Layers: []schema.Layer{{Id: layers[0].Id, Path: VSMBGuestPath("l-0")}, {Id: layers[1].Id, Path: VSMBGuestPath("l-1")}},
				Path:   GuestContainerRoot(0),
			}, GuestPath: vsmb}, "winctr-uvm-pod1")
		}},
		{"wcow-uvm.json", func() (any, error) {
			return WCOWUtilityVM(WCOWVM{
				VM:            VM{MemoryMB: 1536, CPUs: 2, Scratch: `C:\ProgramData\winctr\vm\pod1\sandbox.vhdx`},
				UtilityVMPath: layers[1].Path + `\UtilityVM`,
			})
		}},
		{"lcow-uvm-kernel-direct.json", func() (any, error) {
			return LCOWUtilityVM(LCOWVM{
				VM:           VM{MemoryMB: 512, CPUs: 1, ConsolePipe: `\\.\pipe\winctr-pod1-console`},
				BootFiles:    `C:\Program Files\winctr\lcow\`,
				KernelDirect: true,
			})
		}},
		{"lcow-uvm-uefi.json", func() (any, error) {
			return LCOWUtilityVM(LCOWVM{BootFiles: `C:\Program Files\winctr\lcow`, KernelArgs: " loglevel=7 "})
		}},
		{"process-args.json", func() (any, error) {
			return Process(&specs.Process{Args: []string{"cmd", "/c", "exit 3"}, Env: []string{"A=1"}}, `cmd /c "exit 3"`, Stdio{Stdout: true, Stderr: true})
		}},
		{"process-tty.json", func() (any, error) {
			return Process(tty, `powershell`, Stdio{Stdin: true, Stdout: true, Stderr: true})
		}},
		{"modify-plan9-add.json", func() (any, error) { return AddPlan9Share("c-1", `C:\ProgramData\winctr\vm\pod1\c-1`, true), nil }},
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
			got, err := json.MarshalIndent(doc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("document differs from %s:\n%s", path, got)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	withMount := func(m specs.Mount) *specs.Spec { s := nanoserver(); s.Mounts = []specs.Mount{m}; return s }
	withAnnotation := func(k, v string) *specs.Spec { s := nanoserver(); s.Annotations = map[string]string{k: v}; return s }
	ok := ContainerStorage{Layers: layers, Path: `\\?\Volume{x}\`}
	for _, tc := range []struct {
		name string
		c    Container
		want error
	}{
		{"no windows section", Container{Spec: &specs.Spec{Process: &specs.Process{}}, Storage: ok}, errdefs.ErrInvalidArgument},
		{"no layers", Container{Spec: nanoserver(), Storage: ContainerStorage{Path: `C:\x`}}, errdefs.ErrInvalidArgument},
		{"no scratch", Container{Spec: nanoserver(), Storage: ContainerStorage{Layers: layers}}, errdefs.ErrInvalidArgument},
		{"tmpfs mount", Container{Spec: withMount(specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: `C:\t`}), Storage: ok}, errdefs.ErrInvalidArgument},
		{"mount without source", Container{Spec: withMount(specs.Mount{Destination: `C:\t`}), Storage: ok}, errdefs.ErrInvalidArgument},
		{"mount with a scheme", Container{Spec: withMount(specs.Mount{Source: "sandbox://x", Destination: `C:\t`}), Storage: ok}, errdefs.ErrInvalidArgument},
		{"pipe into a VM", Container{Spec: withMount(specs.Mount{Source: `\\.\pipe\p`, Destination: `\\.\pipe\p`}), Storage: ok,
			GuestPath: func(string) (string, error) { return "", nil }}, errdefs.ErrNotImplemented},
		{"memory annotation not a number", Container{Spec: withAnnotation(AnnotationContainerMemoryMB, "lots"), Storage: ok}, errdefs.ErrInvalidArgument},
		{"cpu limit out of range", Container{Spec: withAnnotation(AnnotationContainerProcessorLimit, "10001"), Storage: ok}, errdefs.ErrInvalidArgument},
		{"negative weight", Container{Spec: withAnnotation(AnnotationContainerProcessorWeight, "-1"), Storage: ok}, errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ProcessIsolated(tc.c)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := HyperVIsolated(Container{Spec: nanoserver(), Storage: ok}, ""); !errdefs.IsInvalidArgument(err) {
		t.Errorf("hosted container without a VM: %v", err)
	}
	if _, err := Process(&specs.Process{}, "", Stdio{}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("process without a command: %v", err)
	}
	if _, err := Process(&specs.Process{Env: []string{"novalue"}}, "cmd", Stdio{}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad environment: %v", err)
	}
	if _, err := WCOWUtilityVM(WCOWVM{}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Windows VM without an image: %v", err)
	}
	if _, err := LCOWUtilityVM(LCOWVM{}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Linux VM without boot files: %v", err)
	}
}
