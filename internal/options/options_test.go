package options

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	optionsv1 "github.com/winctr/winctr/protos/options/v1"
)

func anyOf(t *testing.T, v any) *anypb.Any {
	t.Helper()
	a, err := typeurl.MarshalAnyToProto(v)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDecode(t *testing.T) {
	dir := t.TempDir()
	file := func(body string) string {
		p := filepath.Join(dir, fmt.Sprintf("f%d.toml", len(body)))
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	full := `isolation = "Hypervisor"
platform = "linux/amd64"
boot_files_root_path = "/opt/winctr/lcow"
vm_processor_count = 2
vm_memory_size_in_mb = 512
log_level = "debug"
runc_binary = "/usr/sbin/runc"
runc_root = "/run/x"
vm_pool_size = 2
allowed_annotations = ["io.winctr.isolation"]
valid_boot_files_paths = []
[default_container_annotations]
"a.b" = "c"
`
	tests := []struct {
		name    string
		in      *anypb.Any
		check   func(*optionsv1.Options) bool
		wantErr string // substring; empty means success
	}{
		{"nil", nil, func(o *optionsv1.Options) bool { return o.GetIsolation() == 0 }, ""},
		{"empty any", &anypb.Any{}, func(o *optionsv1.Options) bool { return o.GetPlatform() == "" }, ""},
		{"own type", anyOf(t, &optionsv1.Options{Isolation: optionsv1.Options_ISOLATION_PROCESS, VmProcessorCount: 3}),
			func(o *optionsv1.Options) bool { return o.GetVmProcessorCount() == 3 }, ""},
		{"config path, every field", anyOf(t, &runtimeoptions.Options{ConfigPath: file(full)}),
			func(o *optionsv1.Options) bool {
				return o.GetIsolation() == optionsv1.Options_ISOLATION_HYPERVISOR && o.GetVmMemorySizeInMb() == 512 &&
					o.GetDefaultContainerAnnotations()["a.b"] == "c" && o.GetRuncRoot() == "/run/x" && o.GetLogLevel() == "debug" && o.GetVmPoolSize() == 2 &&
					slices.Equal(o.GetAllowedAnnotations().GetValues(), []string{"io.winctr.isolation"}) &&
					o.GetValidBootFilesPaths() != nil && len(o.GetValidBootFilesPaths().GetValues()) == 0
			}, ""},
		{"lists not set stay unset", anyOf(t, &runtimeoptions.Options{ConfigBody: []byte("isolation = \"process\"\n")}),
			func(o *optionsv1.Options) bool {
				return o.GetAllowedAnnotations() == nil && o.GetValidBootFilesPaths() == nil
			}, ""},
		{"CRI config body with CRI's own keys", anyOf(t, &runtimeoptions.Options{ConfigBody: []byte("TypeUrl = \"x\"\nisolation = \"process\"\n")}),
			func(o *optionsv1.Options) bool { return o.GetIsolation() == optionsv1.Options_ISOLATION_PROCESS }, ""},
		{"missing config file", anyOf(t, &runtimeoptions.Options{ConfigPath: filepath.Join(dir, "nope.toml")}), nil, "nope.toml"},
		{"malformed TOML", anyOf(t, &runtimeoptions.Options{ConfigBody: []byte("isolation = \"process")}), nil, "malformed TOML"},
		{"unknown key", anyOf(t, &runtimeoptions.Options{ConfigBody: []byte("isolaton = \"process\"\n")}), nil, `unknown field "isolaton"`},
		{"unknown isolation", anyOf(t, &runtimeoptions.Options{ConfigBody: []byte("isolation = \"bogus\"\n")}), nil, `field "isolation": unknown value "bogus"`},
		{"wrong type", anyOf(t, &runtimeoptions.Options{ConfigBody: []byte("vm_processor_count = \"two\"\n")}), nil, "vm_processor_count"},
		{"CRI keys in a user's file", anyOf(t, &runtimeoptions.Options{ConfigPath: file("ConfigPath = \"/x\"\n")}), nil, "not winctr options"},
		{"foreign type", anyOf(t, &emptypb.Empty{}), nil, "google.protobuf.Empty"},
		{"undecodable", &anypb.Any{TypeUrl: "nobody.knows/this", Value: []byte{1, 2}}, nil, "nobody.knows/this"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Decode(tt.in)
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want invalid argument mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Fatalf("decoded %v", o)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	base := &optionsv1.Options{
		VmProcessorCount:            2,
		VmMemorySizeInMb:            1024,
		BootFilesRootPath:           "/opts",
		DefaultContainerAnnotations: map[string]string{AnnotationIsolation: "hypervisor"},
	}
	tests := []struct {
		name    string
		opts    *optionsv1.Options
		ann     map[string]string
		check   func(*Config) bool
		wantErr string
	}{
		{"defaults", nil, nil, func(c *Config) bool {
			return c.Isolation == IsolationProcess && c.OS == runtime.GOOS && c.Arch == runtime.GOARCH && c.AgentTimeout == DefaultAgentTimeout
		}, ""},
		{"agent timeout", nil, map[string]string{AnnotationAgentTimeout: "5"}, func(c *Config) bool { return c.AgentTimeout == 5*time.Second }, ""},
		{"agent timeout zero", nil, map[string]string{AnnotationAgentTimeout: "0"}, nil, AnnotationAgentTimeout},
		{"agent timeout of a day", nil, map[string]string{AnnotationAgentTimeout: "86400"}, nil, AnnotationAgentTimeout},
		{"options and their default annotations", base, nil, func(c *Config) bool {
			return c.VMProcessorCount == 2 && c.VMMemoryMB == 1024 && c.BootFilesRootPath == "/opts" && c.Isolation == IsolationHypervisor
		}, ""},
		{"default annotations apply", base, nil, func(c *Config) bool { return c.Isolation == IsolationHypervisor }, ""},
		{"spec annotation cannot lower the default's isolation", base, map[string]string{AnnotationIsolation: "process"}, nil,
			`"io.winctr.isolation" asks for process isolation, below the hypervisor isolation of the runtime's default_container_annotations`},
		{"hcsshim keys", base, map[string]string{HCSAnnotationProcessorCount: "4", HCSAnnotationMemoryMB: "256", HCSAnnotationBootFiles: "/hcs"},
			func(c *Config) bool {
				return c.VMProcessorCount == 4 && c.VMMemoryMB == 256 && c.BootFilesRootPath == "/hcs"
			}, ""},
		{"winctr key beats hcsshim's", nil, map[string]string{HCSAnnotationProcessorCount: "4", AnnotationProcessorCount: "8"},
			func(c *Config) bool { return c.VMProcessorCount == 8 }, ""},
		{"VM sized from the pod's limits", base, map[string]string{CRIAnnotationSandboxMemory: "268435456", CRIAnnotationSandboxCPUQuota: "150000", CRIAnnotationSandboxCPUPeriod: "100000"},
			func(c *Config) bool { return c.VMMemoryMB == 256+VMOverheadMB && c.VMProcessorCount == 2 }, ""},
		{"pod without limits keeps the options' size", base, map[string]string{CRIAnnotationSandboxMemory: "0", CRIAnnotationSandboxCPUQuota: "-1", CRIAnnotationSandboxCPUPeriod: "100000"},
			func(c *Config) bool { return c.VMMemoryMB == 1024 && c.VMProcessorCount == 2 }, ""},
		{"explicit size beats the pod's limits", nil, map[string]string{CRIAnnotationSandboxMemory: "268435456", AnnotationMemoryMB: "2048", HCSAnnotationProcessorCount: "3", CRIAnnotationSandboxCPUQuota: "900000", CRIAnnotationSandboxCPUPeriod: "100000"},
			func(c *Config) bool { return c.VMMemoryMB == 2048 && c.VMProcessorCount == 3 }, ""},
		{"huge pod limit is capped", nil, map[string]string{CRIAnnotationSandboxMemory: "9223372036854775807"},
			func(c *Config) bool { return c.VMMemoryMB == MaxMemoryMB }, ""},
		{"bad pod memory", nil, map[string]string{CRIAnnotationSandboxMemory: "lots"}, nil, "io.kubernetes.cri.sandbox-memory"},
		{"platform", nil, map[string]string{AnnotationPlatform: "windows/amd64"}, func(c *Config) bool { return c.OS == "windows" && c.Arch == "amd64" }, ""},
		{"platform os only", &optionsv1.Options{Platform: "Linux"}, nil, func(c *Config) bool { return c.OS == "linux" }, ""},
		{"bad isolation annotation", nil, map[string]string{AnnotationIsolation: "bogus"}, nil, `"io.winctr.isolation": unknown value "bogus"`},
		{"bad isolation enum", &optionsv1.Options{Isolation: 42}, nil, nil, `"isolation"`},
		{"non-numeric count", nil, map[string]string{AnnotationProcessorCount: "many"}, nil, "io.winctr.vm.processor-count"},
		{"negative memory", nil, map[string]string{AnnotationMemoryMB: "-5"}, nil, "memory -5 MB"},
		{"tiny memory", &optionsv1.Options{VmMemorySizeInMb: 8}, nil, nil, "memory 8 MB is too small"},
		{"memory a VM cannot boot in", nil, map[string]string{AnnotationMemoryMB: "96"}, nil, "at least 128 MB"},
		{"memory just below the floor", &optionsv1.Options{VmMemorySizeInMb: MinMemoryMB - 1}, nil, nil, "memory 127 MB is too small"},
		{"smallest memory", nil, map[string]string{AnnotationMemoryMB: "128"}, func(c *Config) bool { return c.VMMemoryMB == 128 }, ""},
		{"hcsshim's key below the floor", nil, map[string]string{HCSAnnotationMemoryMB: "64"}, nil, "memory 64 MB is too small"},
		{"memory past the ceiling", nil, map[string]string{AnnotationMemoryMB: "2000000"}, nil, "memory 2000000 MB: want 128 to"},
		{"huge cpu count", &optionsv1.Options{VmProcessorCount: 100000}, nil, nil, "processor count 100000"},
		{"bad os", &optionsv1.Options{Platform: "plan9/amd64"}, nil, nil, `OS "plan9"`},
		{"bad arch", nil, map[string]string{AnnotationPlatform: "linux/z80"}, nil, `architecture "z80"`},
		{"bad log level", &optionsv1.Options{LogLevel: "loud"}, nil, nil, `"log_level"`},
		{"pool size", &optionsv1.Options{VmPoolSize: 3}, nil, func(c *Config) bool { return c.VMPoolSize == 3 }, ""},
		{"negative pool size", &optionsv1.Options{VmPoolSize: -1}, nil, nil, `"vm_pool_size": -1`},
		{"huge pool size", &optionsv1.Options{VmPoolSize: MaxPoolSize + 1}, nil, nil, `"vm_pool_size"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// This table is about parsing: every key is allowed (the
			// policy has its own tests).
			o := &optionsv1.Options{}
			if tt.opts != nil {
				o = proto.Clone(tt.opts).(*optionsv1.Options)
			}
			o.AllowedAnnotations = &optionsv1.StringList{Values: []string{"*"}}
			o.ValidBootFilesPaths = &optionsv1.StringList{Values: []string{"/"}}
			c, err := Resolve(o, tt.ann)
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want invalid argument mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

// TestDecodeRuncOptions: the runc shim's options, as containerd's CRI
// makes them up for a user-namespaced container, are taken where winctr
// can honour them and refused where it cannot.
func TestDecodeRuncOptions(t *testing.T) {
	o, err := Decode(anyOf(t, &runcoptions.Options{IoUid: 100000, IoGid: 100000, BinaryName: "/opt/runc", Root: "/run/r"}))
	if err != nil || o.GetRuncBinary() != "/opt/runc" || o.GetRuncRoot() != "/run/r" || o.GetIsolation() != 0 {
		t.Fatalf("got %v, %v", o, err)
	}
	for _, bad := range []*runcoptions.Options{{SystemdCgroup: true}, {CriuImagePath: "/x"}, {NoPivotRoot: true}} {
		if _, err := Decode(anyOf(t, bad)); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%v: %v, want invalid argument", bad, err)
		}
	}
}
