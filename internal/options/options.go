// Package options turns the runtime options containerd sends and a spec's
// annotations into the effective, validated configuration of a container.
package options

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	hcsannotations "github.com/Microsoft/hcsshim/pkg/annotations"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/pelletier/go-toml/v2"
	"google.golang.org/protobuf/types/known/anypb"

	optionsv1 "github.com/winctr/winctr/protos/options/v1"
)

// Annotation keys: winctr's own, and hcsshim's that users of Windows
// containers already write. winctr's key wins when both are set.
const (
	AnnotationIsolation      = "io.winctr.isolation"
	AnnotationPlatform       = "io.winctr.platform"
	AnnotationProcessorCount = "io.winctr.vm.processor-count"
	AnnotationMemoryMB       = "io.winctr.vm.memory-mb"
	AnnotationBootFiles      = "io.winctr.bootfiles-root-path"
	// AnnotationAgentTimeout bounds, in seconds, how long the shim waits
	// for the guest agent's answer to a call before it gives up on it.
	AnnotationAgentTimeout = "io.winctr.vm.agent-timeout-seconds"

	HCSAnnotationProcessorCount = hcsannotations.ProcessorCount
	HCSAnnotationMemoryMB       = hcsannotations.MemorySizeInMB
	HCSAnnotationBootFiles      = hcsannotations.BootFilesRootPath
)

// The annotations in which containerd's CRI passes a pod's resources (the
// sums of its containers' limits, from the kubelet) to its sandbox.
const (
	CRIAnnotationSandboxMemory    = "io.kubernetes.cri.sandbox-memory"
	CRIAnnotationSandboxCPUQuota  = "io.kubernetes.cri.sandbox-cpu-quota"
	CRIAnnotationSandboxCPUPeriod = "io.kubernetes.cri.sandbox-cpu-period"
)

// DefaultAgentTimeout is how long the shim waits for the guest agent's
// answer to a call: long enough for a slow emulated guest, short enough
// that a frozen VM is noticed. MaxAgentTimeout bounds what may be asked.
const (
	DefaultAgentTimeout = 60 * time.Second
	MaxAgentTimeout     = time.Hour
)

// VMOverheadMB is added to a pod's memory limit to size its VM: the guest
// kernel, the agent and runc live there too.
const VMOverheadMB = 256

// Limits on VM sizes: beyond them a value is a typo, not a wish.
//
// MinMemoryMB is the smallest utility VM that boots and runs a container.
// The guest kernel, the initrd's unpacked files and the compressed image
// until it is unpacked must all fit; below this the kernel panics before
// the agent runs (bench/results/design-measurements.md has the sizes).
// Refusing a smaller size at create beats a VM that dies while it boots.
const (
	MaxProcessorCount = 512
	MinMemoryMB       = 128
	MaxMemoryMB       = 1 << 20
	// MaxPoolSize bounds the warm pool: each pooled VM holds its memory
	// while it waits.
	MaxPoolSize = 64
)

// Isolation is where a container runs.
type Isolation int

const (
	// IsolationProcess runs containers on the host kernel.
	IsolationProcess Isolation = iota + 1
	// IsolationHypervisor runs the pod in a utility VM.
	IsolationHypervisor
)

func (i Isolation) String() string {
	switch i {
	case IsolationProcess:
		return "process"
	case IsolationHypervisor:
		return "hypervisor"
	}
	return fmt.Sprintf("isolation(%d)", int(i))
}

// Config is the effective configuration of one container after the runtime
// options and its annotations.
type Config struct {
	Isolation         Isolation
	OS, Arch          string
	BootFilesRootPath string
	// VMProcessorCount and VMMemoryMB are 0 for the VM driver's default.
	VMProcessorCount int32
	VMMemoryMB       int32
	// AgentTimeout bounds each call to the guest agent that waits for an
	// answer (not those that wait for an event).
	AgentTimeout time.Duration
	LogLevel     string
	RuncBinary   string
	RuncRoot     string
	// VMPoolSize is how many booted VMs of the runtime's default size
	// the runtime keeps waiting for new pods; 0 for none.
	VMPoolSize int32
	// VM is the operator's choice of VM programs and kernel parameters;
	// no annotation reaches it.
	VM VMHost

	// platformSet records that the options or an annotation named the
	// platform, which then wins over what the spec suggests.
	platformSet bool
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("runtime options: "+format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// Decode turns the options containerd sends (CreateTaskRequest.Options, or
// the bootstrap extension) into winctr's Options. It accepts winctr's own
// type, containerd's generic runtimeoptions.Options whose ConfigPath
// (from `ctr run --runtime-config-path`) or ConfigBody (CRI's options table
// for a non-runc runtime) holds TOML with the same fields, and the runc
// shim's options, which containerd's CRI sends for a user-namespaced
// container of a handler without an options table (see fromRuncOptions).
func Decode(a *anypb.Any) (*optionsv1.Options, error) {
	if a == nil || (a.GetTypeUrl() == "" && len(a.GetValue()) == 0) {
		return &optionsv1.Options{}, nil
	}
	v, err := typeurl.UnmarshalAny(a)
	if err != nil {
		return nil, invalid("cannot decode options of type %q: %v", a.GetTypeUrl(), err)
	}
	switch o := v.(type) {
	case *optionsv1.Options:
		return o, nil
	case *runcoptions.Options:
		return fromRuncOptions(o)
	case *runtimeoptions.Options:
		if o.ConfigPath != "" {
			b, err := os.ReadFile(o.ConfigPath)
			if err != nil {
				return nil, invalid("config file %s: %v", o.ConfigPath, err)
			}
			opts, err := DecodeTOML(b, true)
			if err != nil {
				return nil, fmt.Errorf("config file %s: %w", o.ConfigPath, err)
			}
			return opts, nil
		}
		return DecodeTOML(o.ConfigBody, false)
	}
	return nil, invalid("options of type %q are not winctr's (want %q or containerd's runtimeoptions)", a.GetTypeUrl(), "winctr.options.v1.Options")
}

// tomlOptions is the TOML form of Options, keyed by the proto field names.
type tomlOptions struct {
	Isolation                   string            `toml:"isolation"`
	Platform                    string            `toml:"platform"`
	BootFilesRootPath           string            `toml:"boot_files_root_path"`
	VMProcessorCount            int32             `toml:"vm_processor_count"`
	VMMemorySizeInMB            int32             `toml:"vm_memory_size_in_mb"`
	LogLevel                    string            `toml:"log_level"`
	DefaultContainerAnnotations map[string]string `toml:"default_container_annotations"`
	RuncBinary                  string            `toml:"runc_binary"`
	RuncRoot                    string            `toml:"runc_root"`
	VMPoolSize                  int32             `toml:"vm_pool_size"`
	// Pointers, so that a list set empty differs from one not set.
	AllowedAnnotations  *[]string `toml:"allowed_annotations"`
	ValidBootFilesPaths *[]string `toml:"valid_boot_files_paths"`
	QEMUBinary          string    `toml:"qemu_binary"`
	VirtiofsdBinary     string    `toml:"virtiofsd_binary"`
	KernelParams        string    `toml:"kernel_params"`
	DebugShell          bool      `toml:"debug_shell"`
	RequireKVM          bool      `toml:"require_kvm"`

	// CRI copies its own keys of the options table into ConfigBody.
	TypeURL    string `toml:"TypeUrl"`
	ConfigPath string `toml:"ConfigPath"`
	ConfigBody []byte `toml:"ConfigBody"`
}

// DecodeTOML reads Options from TOML; unknown keys are refused, so that a
// misspelt option is an error rather than silently ignored. strict refuses
// CRI's own keys too (a user's file has no business holding them).
func DecodeTOML(b []byte, strict bool) (*optionsv1.Options, error) {
	var t tomlOptions
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, tomlError(err)
	}
	if strict && (t.TypeURL != "" || t.ConfigPath != "" || len(t.ConfigBody) > 0) {
		return nil, invalid("keys TypeUrl, ConfigPath and ConfigBody are not winctr options")
	}
	iso, err := parseIsolation("isolation", t.Isolation)
	if err != nil {
		return nil, err
	}
	return &optionsv1.Options{
		Isolation:                   iso,
		Platform:                    t.Platform,
		BootFilesRootPath:           t.BootFilesRootPath,
		VmProcessorCount:            t.VMProcessorCount,
		VmMemorySizeInMb:            t.VMMemorySizeInMB,
		LogLevel:                    t.LogLevel,
		DefaultContainerAnnotations: t.DefaultContainerAnnotations,
		RuncBinary:                  t.RuncBinary,
		RuncRoot:                    t.RuncRoot,
		VmPoolSize:                  t.VMPoolSize,
		AllowedAnnotations:          stringList(t.AllowedAnnotations),
		ValidBootFilesPaths:         stringList(t.ValidBootFilesPaths),
		QemuBinary:                  t.QEMUBinary,
		VirtiofsdBinary:             t.VirtiofsdBinary,
		KernelParams:                t.KernelParams,
		DebugShell:                  t.DebugShell,
		RequireKvm:                  t.RequireKVM,
	}, nil
}

func stringList(l *[]string) *optionsv1.StringList {
	if l == nil {
		return nil
	}
	return &optionsv1.StringList{Values: *l}
}

// tomlError names the offending key of a TOML decoding error.
func tomlError(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var keys []string
		for _, e := range strict.Errors {
			keys = append(keys, strings.Join(e.Key(), "."))
		}
		return invalid("unknown field %q", strings.Join(keys, ", "))
	}
	var decErr *toml.DecodeError
	if errors.As(err, &decErr) {
		row, col := decErr.Position()
		if k := decErr.Key(); len(k) > 0 {
			return invalid("field %q: %v (line %d, column %d)", strings.Join(k, "."), decErr.Error(), row, col)
		}
		return invalid("malformed TOML: %v (line %d, column %d)", decErr.Error(), row, col)
	}
	return invalid("malformed TOML: %v", err)
}

func parseIsolation(field, s string) (optionsv1.Options_Isolation, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return optionsv1.Options_ISOLATION_UNSPECIFIED, nil
	case "process":
		return optionsv1.Options_ISOLATION_PROCESS, nil
	case "hypervisor":
		return optionsv1.Options_ISOLATION_HYPERVISOR, nil
	}
	return 0, invalid("field %q: unknown value %q (want \"process\" or \"hypervisor\")", field, s)
}

// Resolve applies a pod's or container's annotations, which are untrusted,
// on top of the options and the options' default container annotations,
// which are the operator's, and validates the result. The options'
// isolation is a floor the annotations may raise but never lower, and only
// the annotations the options allow are taken (see policy.go). Every
// refusal is an ErrInvalidArgument naming the field or key.
func Resolve(o *optionsv1.Options, annotations map[string]string) (*Config, error) {
	return resolve(o, annotations, floor{})
}

func resolve(o *optionsv1.Options, untrusted map[string]string, fl floor) (*Config, error) {
	if o == nil {
		o = &optionsv1.Options{}
	}
	annotations := make(map[string]string, len(untrusted)+len(o.GetDefaultContainerAnnotations()))
	for k, v := range o.GetDefaultContainerAnnotations() {
		annotations[k] = v
	}
	for k, v := range untrusted {
		annotations[k] = v
	}
	cfg := &Config{
		BootFilesRootPath: o.GetBootFilesRootPath(),
		VMProcessorCount:  o.GetVmProcessorCount(),
		VMMemoryMB:        o.GetVmMemorySizeInMb(),
		LogLevel:          o.GetLogLevel(),
		RuncBinary:        o.GetRuncBinary(),
		RuncRoot:          o.GetRuncRoot(),
		VMPoolSize:        o.GetVmPoolSize(),
		VM:                vmHost(o),
	}
	// The isolation first: a pod asking for less than the floor hears
	// that, whether or not it may use the key at all.
	var err error
	if cfg.Isolation, err = resolveIsolation(o, untrusted, fl); err != nil {
		return nil, err
	}
	if err := checkAllowed(o, untrusted); err != nil {
		return nil, err
	}

	platform, platformField := o.GetPlatform(), "platform"
	if v, ok := annotation(annotations, AnnotationPlatform); ok {
		platform, platformField = v, AnnotationPlatform
	}
	cfg.platformSet = platform != ""
	if cfg.OS, cfg.Arch, err = parsePlatform(platformField, platform); err != nil {
		return nil, err
	}

	if v, _, ok := firstAnnotation(annotations, AnnotationBootFiles, HCSAnnotationBootFiles); ok {
		cfg.BootFilesRootPath = v
	}
	if v, key, ok := firstAnnotation(annotations, AnnotationProcessorCount, HCSAnnotationProcessorCount); ok {
		if cfg.VMProcessorCount, err = parseInt32(key, v); err != nil {
			return nil, err
		}
	}
	if v, key, ok := firstAnnotation(annotations, AnnotationMemoryMB, HCSAnnotationMemoryMB); ok {
		if cfg.VMMemoryMB, err = parseInt32(key, v); err != nil {
			return nil, err
		}
	}
	cfg.AgentTimeout = DefaultAgentTimeout
	if v, ok := annotation(annotations, AnnotationAgentTimeout); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || time.Duration(n)*time.Second > MaxAgentTimeout {
			return nil, invalid("annotation %q: %q is not a number of seconds from 1 to %d", AnnotationAgentTimeout, v, int(MaxAgentTimeout/time.Second))
		}
		cfg.AgentTimeout = time.Duration(n) * time.Second
	}
	if err := sizeFromPod(cfg, annotations); err != nil {
		return nil, err
	}
	if cfg.VMProcessorCount < 0 || cfg.VMProcessorCount > MaxProcessorCount {
		return nil, invalid("VM processor count %d: want 1 to %d (0 for the default)", cfg.VMProcessorCount, MaxProcessorCount)
	}
	if cfg.VMMemoryMB > 0 && cfg.VMMemoryMB < MinMemoryMB {
		return nil, invalid("VM memory %d MB is too small: a utility VM needs at least %d MB to boot and run a container", cfg.VMMemoryMB, MinMemoryMB)
	}
	if cfg.VMMemoryMB < 0 || cfg.VMMemoryMB > MaxMemoryMB {
		return nil, invalid("VM memory %d MB: want %d to %d (0 for the default)", cfg.VMMemoryMB, MinMemoryMB, MaxMemoryMB)
	}
	if cfg.VMPoolSize < 0 || cfg.VMPoolSize > MaxPoolSize {
		return nil, invalid("field \"vm_pool_size\": %d: want 0 to %d", cfg.VMPoolSize, MaxPoolSize)
	}
	if cfg.LogLevel != "" {
		if !logLevels[strings.ToLower(cfg.LogLevel)] {
			return nil, invalid("field \"log_level\": unknown level %q", cfg.LogLevel)
		}
	}
	return cfg, nil
}

// sizeFromPod sizes the VM from the pod's resources that CRI passes, where
// no winctr or hcsshim annotation sized it: memory is the pod's limit plus
// VMOverheadMB, processors the limit's CPUs rounded up. Sizes derived so
// are capped at the limits rather than refused.
func sizeFromPod(cfg *Config, a map[string]string) error {
	if _, _, ok := firstAnnotation(a, AnnotationMemoryMB, HCSAnnotationMemoryMB); !ok {
		if v, ok := a[CRIAnnotationSandboxMemory]; ok {
			b, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || b < 0 {
				return invalid("annotation %q: %q is not a byte count", CRIAnnotationSandboxMemory, v)
			}
			if b > 0 {
				mb := b >> 20
				if b&(1<<20-1) != 0 {
					mb++
				}
				cfg.VMMemoryMB = int32(min(mb+VMOverheadMB, MaxMemoryMB))
			}
		}
	}
	if _, _, ok := firstAnnotation(a, AnnotationProcessorCount, HCSAnnotationProcessorCount); !ok {
		q, qok := a[CRIAnnotationSandboxCPUQuota]
		p, pok := a[CRIAnnotationSandboxCPUPeriod]
		if qok && pok {
			quota, err1 := strconv.ParseInt(strings.TrimSpace(q), 10, 64)
			period, err2 := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
			if err1 != nil || err2 != nil {
				return invalid("annotations %q/%q: %q/%q are not whole numbers", CRIAnnotationSandboxCPUQuota, CRIAnnotationSandboxCPUPeriod, q, p)
			}
			if quota > 0 && period > 0 {
				cpus := quota / period
				if quota%period != 0 {
					cpus++
				}
				cfg.VMProcessorCount = int32(min(cpus, MaxProcessorCount))
			}
		}
	}
	return nil
}

func annotation(a map[string]string, key string) (string, bool) {
	v, ok := a[key]
	return v, ok
}

// firstAnnotation returns the first of keys that is set, and which it was.
func firstAnnotation(a map[string]string, keys ...string) (string, string, bool) {
	for _, k := range keys {
		if v, ok := a[k]; ok {
			return v, k, true
		}
	}
	return "", "", false
}

func parseInt32(key, v string) (int32, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return 0, invalid("annotation %q: %q is not a whole number", key, v)
	}
	return int32(n), nil
}

// logLevels are the levels containerd's log package accepts.
var logLevels = map[string]bool{"trace": true, "debug": true, "info": true, "warn": true, "warning": true, "error": true, "fatal": true, "panic": true}

// knownArch are the architectures a container platform may name.
var knownArch = map[string]bool{"amd64": true, "arm64": true, "386": true, "arm": true, "ppc64le": true, "s390x": true, "riscv64": true}

func parsePlatform(field, p string) (string, string, error) {
	if p == "" {
		return runtime.GOOS, runtime.GOARCH, nil
	}
	osName, arch, hasArch := strings.Cut(strings.ToLower(p), "/")
	if osName != "linux" && osName != "windows" {
		return "", "", invalid("field %q: OS %q in %q is neither linux nor windows", field, osName, p)
	}
	if !hasArch {
		return osName, runtime.GOARCH, nil
	}
	arch, _, _ = strings.Cut(arch, "/") // a variant (arm64/v8) does not change the choice of host
	if !knownArch[arch] {
		return "", "", invalid("field %q: unknown architecture %q in %q", field, arch, p)
	}
	return osName, arch, nil
}

// ResolveSpec is Resolve for a container, whose spec also decides, as
// Docker and runhcs users know it: a spec with a linux section is a Linux
// container, one with only a windows section a Windows container; a
// Windows container runs process-isolated unless its spec asks for
// windows.hyperv (or the options or annotations ask for hypervisor
// isolation); a Linux container on a Windows host always runs in a utility
// VM (LCOW). What the spec needs joins the options in the isolation floor:
// an annotation asking for less is refused.
func ResolveSpec(o *optionsv1.Options, spec *specs.Spec, hostOS string) (*Config, error) {
	specOS := ""
	switch {
	case spec.Linux != nil:
		specOS = "linux"
	case spec.Windows != nil:
		specOS = "windows"
	}
	var fl floor
	switch {
	case specOS == "windows" && spec.Windows.HyperV != nil:
		fl = floor{IsolationHypervisor, "the spec's windows.hyperv section"}
	case specOS == "linux" && hostOS == "windows":
		fl = floor{IsolationHypervisor, "a Linux container on a Windows host"}
	}
	cfg, err := resolve(o, spec.Annotations, fl)
	if err != nil {
		return nil, err
	}
	if specOS != "" {
		if cfg.platformSet && cfg.OS != specOS {
			return nil, invalid("platform %s/%s, but the spec is a %s container's", cfg.OS, cfg.Arch, specOS)
		}
		cfg.OS = specOS
	}
	if fl.isolation > cfg.Isolation {
		cfg.Isolation = fl.isolation
	}
	return cfg, nil
}
