package hcsdoc

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/winctr/winctr/internal/hcs/hcstest"
	"github.com/winctr/winctr/internal/hcs/schema"
	uvmhcs "github.com/winctr/winctr/internal/uvmdriver/hcs"
)

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
				CPU:     &specs.WindowsCPUResources{Count: u64(4)},
				Storage: &specs.WindowsStorageResources{Iops: u64(3000)},
			},
			Network: &specs.WindowsNetwork{
				NetworkNamespace: "0c2e8a8c-1bd8-4e55-a3b6-2bb5e1c7d5a4",
				EndpointList:     []string{"e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"},
				DNSSearchList:    []string{"svc.cluster.local", "cluster.local"},
			},
		},
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
		return uvmhcs.VSMBGuestPath("m-" + filepath.Base(strings.ReplaceAll(host, `\`, "/"))), nil
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
			return ProcessIsolated(Container{Spec: nanoserver(), Storage: ContainerStorage{Layers: layers, Path: `\\?\Volume{4a1a3e2c-0d1b-4f52-9c3a-6b7d8e9f0a1b}`}, Processors: 2})
		}},
		{"hyperv-isolated.json", func() (any, error) {
			return HyperVIsolated(Container{Spec: hyperv, Storage: ContainerStorage{
				Layers: []schema.Layer{{Id: layers[0].Id, Path: uvmhcs.VSMBGuestPath("l-0")}, {Id: layers[1].Id, Path: uvmhcs.VSMBGuestPath("l-1")}},
				Path:   uvmhcs.GuestContainerRoot(0),
			}, GuestPath: vsmb, Processors: 2}, "winctr-uvm-pod1")
		}},
		{"process-args.json", func() (any, error) {
			return Process(&specs.Process{Args: []string{"cmd", "/c", "exit 3"}, Env: []string{"A=1"}}, `cmd /c "exit 3"`, Stdio{Stdout: true, Stderr: true})
		}},
		{"process-tty.json", func() (any, error) {
			return Process(tty, `powershell`, Stdio{Stdin: true, Stdout: true, Stderr: true})
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

func TestRefusals(t *testing.T) {
	withMount := func(m specs.Mount) *specs.Spec { s := nanoserver(); s.Mounts = []specs.Mount{m}; return s }
	withCPU := func(c specs.WindowsCPUResources) *specs.Spec {
		s := nanoserver()
		s.Windows.Resources.CPU = &c
		return s
	}
	withNetwork := func(n specs.WindowsNetwork) *specs.Spec { s := nanoserver(); s.Windows.Network = &n; return s }
	withAnnotation := func(k, v string) *specs.Spec { s := nanoserver(); s.Annotations = map[string]string{k: v}; return s }
	ok := ContainerStorage{Layers: layers, Path: `\\?\Volume{x}\`}
	for _, tc := range []struct {
		name string
		c    Container
		want error
	}{
		{"no windows section", Container{Spec: &specs.Spec{Process: &specs.Process{}}, Storage: ok}, errdefs.ErrInvalidArgument},
		{"no layers", Container{Spec: nanoserver(), Storage: ContainerStorage{Path: `\\?\Volume{x}`}}, errdefs.ErrInvalidArgument},
		{"no scratch", Container{Spec: nanoserver(), Storage: ContainerStorage{Layers: layers}}, errdefs.ErrInvalidArgument},
		{"scratch not a volume", Container{Spec: nanoserver(), Storage: ContainerStorage{Layers: layers, Path: `C:\x`}}, errdefs.ErrInvalidArgument},
		{"tmpfs mount", Container{Spec: withMount(specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: `C:\t`}), Storage: ok}, errdefs.ErrInvalidArgument},
		{"mount without source", Container{Spec: withMount(specs.Mount{Destination: `C:\t`}), Storage: ok}, errdefs.ErrInvalidArgument},
		{"mount with a scheme", Container{Spec: withMount(specs.Mount{Source: "sandbox://x", Destination: `C:\t`}), Storage: ok}, errdefs.ErrInvalidArgument},
		{"pipe into a VM", Container{Spec: withMount(specs.Mount{Source: `\\.\pipe\p`, Destination: `\\.\pipe\p`}), Storage: ok,
			GuestPath: func(string) (string, error) { return "", nil }}, errdefs.ErrNotImplemented},
		{"memory annotation not a number", Container{Spec: withAnnotation(AnnotationContainerMemoryMB, "lots"), Storage: ok}, errdefs.ErrInvalidArgument},
		{"cpu limit out of range", Container{Spec: withAnnotation(AnnotationContainerProcessorLimit, "10001"), Storage: ok}, errdefs.ErrInvalidArgument},
		{"endpoints without a namespace", Container{Spec: withNetwork(specs.WindowsNetwork{EndpointList: []string{"e1"}}), Storage: ok}, errdefs.ErrInvalidArgument},
		{"count and shares", Container{Spec: withCPU(specs.WindowsCPUResources{Count: u64(1), Shares: u16(5)}), Storage: ok}, errdefs.ErrInvalidArgument},
		{"shares and maximum", Container{Spec: withCPU(specs.WindowsCPUResources{Maximum: u16(5000), Shares: u16(5)}), Storage: ok}, errdefs.ErrInvalidArgument},
		{"count and limit annotation", Container{Spec: withAnnotation(AnnotationContainerProcessorLimit, "5000"), Storage: ok}, errdefs.ErrInvalidArgument},
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
}
