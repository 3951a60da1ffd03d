// Package hcsdoc builds the HCS documents of winctr's Windows containers
// from what containerd gives a shim (the OCI spec, its annotations): a
// process-isolated Windows container, a Windows container hosted in a
// utility VM, and their processes. The utility VMs' own documents are
// built beside their driver, in internal/uvmdriver/hcs. The builders are pure
// functions, so they are tested on every platform against checked-in
// documents.
package hcsdoc

import (
	"fmt"
	"strconv"
	"strings"

	hcsannotations "github.com/Microsoft/hcsshim/pkg/annotations"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/winctr/winctr/internal/hcs"
	"github.com/winctr/winctr/internal/hcs/schema"
)

// hcsshim's annotation keys for a Windows container's resources; they win
// over the spec's windows.resources, as they do with hcsshim.
const (
	AnnotationContainerMemoryMB         = hcsannotations.ContainerMemorySizeInMB
	AnnotationContainerProcessorCount   = hcsannotations.ContainerProcessorCount
	AnnotationContainerProcessorLimit   = hcsannotations.ContainerProcessorLimit
	AnnotationContainerProcessorWeight  = hcsannotations.ContainerProcessorWeight
	AnnotationContainerStorageIops      = hcsannotations.ContainerStorageQoSIopsMaximum
	AnnotationContainerStorageBandwidth = hcsannotations.ContainerStorageQoSBandwidthMaximum
)

// ContainerStorage is a Windows container's root as its host sees it.
type ContainerStorage struct {
	// Layers are the read-only layers, topmost first, with their ids.
	Layers []schema.Layer
	// Path is the mounted scratch volume (process isolation) or the
	// container's root in the utility VM (Hyper-V isolation).
	Path string
}

// Container is what a container document is built from.
type Container struct {
	Spec    *specs.Spec
	Storage ContainerStorage
	// GuestPath maps a host directory to the path the utility VM sees it
	// at (its VSMB share); nil for process isolation, where host paths are
	// used as they are.
	GuestPath func(hostPath string) (string, error)
	// Processors is how many processors the container's machine has: the
	// host's for process isolation, the utility VM's for Hyper-V
	// isolation. A larger processor count is lowered to it.
	Processors int32
}

// volumePrefix is how the volume GUID path of a mounted layer starts.
const volumePrefix = `\\?\Volume{`

// ProcessIsolated is the document of a Windows Server container that
// shares the host's kernel. Storage.Path is the mounted layer's volume
// GUID path as the layer API returns it, without the trailing separator
// HCS needs to take it as a volume root.
func ProcessIsolated(c Container) (*schema.ComputeSystem, error) {
	vol := c.Storage.Path
	if !strings.HasPrefix(vol, volumePrefix) {
		return nil, fmt.Errorf("process-isolated storage %q is not a volume GUID path: %w", vol, errdefs.ErrInvalidArgument)
	}
	if !strings.HasSuffix(vol, `\`) {
		c.Storage.Path = vol + `\`
	}
	return document(c)
}

func document(c Container) (*schema.ComputeSystem, error) {
	ct, err := container(c)
	if err != nil {
		return nil, err
	}
	return &schema.ComputeSystem{
		Owner:                             hcs.Owner,
		SchemaVersion:                     schema.V21,
		Container:                         ct,
		ShouldTerminateOnLastHandleClosed: true,
	}, nil
}

// HyperVIsolated is the document of a Windows container that HCS creates
// inside the utility VM uvmID.
func HyperVIsolated(c Container, uvmID string) (*schema.ComputeSystem, error) {
	if uvmID == "" {
		return nil, fmt.Errorf("hosted container without a utility VM: %w", errdefs.ErrInvalidArgument)
	}
	doc, err := document(c)
	if err != nil {
		return nil, err
	}
	doc.HostingSystemId = uvmID
	doc.HostedSystem = &schema.HostedSystem{SchemaVersion: schema.V21, Container: doc.Container}
	doc.Container = nil
	return doc, nil
}

func container(c Container) (*schema.Container, error) {
	s := c.Spec
	if s == nil || s.Windows == nil {
		return nil, fmt.Errorf("a Windows container needs the spec's windows section: %w", errdefs.ErrInvalidArgument)
	}
	if len(c.Storage.Layers) == 0 || c.Storage.Path == "" {
		return nil, fmt.Errorf("a Windows container needs its image layers and a scratch: %w", errdefs.ErrInvalidArgument)
	}
	ct := &schema.Container{
		Storage: &schema.Storage{Layers: c.Storage.Layers, Path: c.Storage.Path},
	}
	if s.Hostname != "" {
		ct.GuestOs = &schema.GuestOs{HostName: s.Hostname}
	}
	if err := resources(ct, s, c.Processors); err != nil {
		return nil, err
	}
	if err := mounts(ct, s.Mounts, c.GuestPath); err != nil {
		return nil, err
	}
	if n := s.Windows.Network; n != nil {
		// HCS attaches the endpoints of the namespace; a spec's endpoint
		// list needs one made for them first (the Windows host does).
		if len(n.EndpointList) > 0 && n.NetworkNamespace == "" {
			return nil, fmt.Errorf("network endpoints %v without an HNS namespace: %w", n.EndpointList, errdefs.ErrInvalidArgument)
		}
		if n.NetworkNamespace != "" || n.NetworkSharedContainerName != "" || n.AllowUnqualifiedDNSQuery || len(n.DNSSearchList) > 0 {
			ct.Networking = &schema.Networking{
				AllowUnqualifiedDnsQuery:   n.AllowUnqualifiedDNSQuery,
				DnsSearchList:              strings.Join(n.DNSSearchList, ","),
				NetworkSharedContainerName: n.NetworkSharedContainerName,
				Namespace:                  n.NetworkNamespace,
			}
		}
	}
	return ct, nil
}

// resources maps windows.resources and hcsshim's annotations. HCS takes
// one way to bound a container's processors, not several, and no more
// processors than its machine has.
func resources(ct *schema.Container, s *specs.Spec, processors int32) error {
	var memMB uint64
	var cpu schema.Processor
	var qos schema.StorageQoS
	if r := s.Windows.Resources; r != nil {
		if r.Memory != nil && r.Memory.Limit != nil {
			// Round up: a limit below one MB must not become "no limit".
			memMB = (*r.Memory.Limit + (1<<20 - 1)) >> 20
		}
		if r.CPU != nil {
			if r.CPU.Count != nil {
				cpu.Count = int32(min(*r.CPU.Count, 1<<16))
			}
			if r.CPU.Shares != nil {
				cpu.Weight = int32(*r.CPU.Shares)
			}
			if r.CPU.Maximum != nil {
				cpu.Maximum = int32(*r.CPU.Maximum)
			}
		}
		if r.Storage != nil {
			if r.Storage.Iops != nil {
				qos.IopsMaximum = int32(min(*r.Storage.Iops, 1<<31-1))
			}
			if r.Storage.Bps != nil {
				qos.BandwidthMaximum = int32(min(*r.Storage.Bps, 1<<31-1))
			}
		}
	}
	a := s.Annotations
	for _, f := range []struct {
		key string
		max int64
		set func(int64)
	}{
		{AnnotationContainerMemoryMB, 1 << 30, func(v int64) { memMB = uint64(v) }},
		{AnnotationContainerProcessorCount, 1 << 16, func(v int64) { cpu.Count = int32(v) }},
		{AnnotationContainerProcessorLimit, 10000, func(v int64) { cpu.Maximum = int32(v) }},
		{AnnotationContainerProcessorWeight, 10000, func(v int64) { cpu.Weight = int32(v) }},
		{AnnotationContainerStorageIops, 1<<31 - 1, func(v int64) { qos.IopsMaximum = int32(v) }},
		{AnnotationContainerStorageBandwidth, 1<<31 - 1, func(v int64) { qos.BandwidthMaximum = int32(v) }},
	} {
		v, ok := a[f.key]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 1 || n > f.max {
			return fmt.Errorf("annotation %q: %q is not a number from 1 to %d: %w", f.key, v, f.max, errdefs.ErrInvalidArgument)
		}
		f.set(n)
	}
	if cpu.Maximum < 0 || cpu.Maximum > 10000 {
		return fmt.Errorf("windows.resources.cpu.maximum %d: want 1 to 10000: %w", cpu.Maximum, errdefs.ErrInvalidArgument)
	}
	if cpu.Weight < 0 || cpu.Weight > 10000 {
		return fmt.Errorf("windows.resources.cpu.shares %d: want 1 to 10000: %w", cpu.Weight, errdefs.ErrInvalidArgument)
	}
	set := 0
	for _, v := range []int32{cpu.Count, cpu.Maximum, cpu.Weight} {
		if v != 0 {
			set++
		}
	}
	if set > 1 {
		return fmt.Errorf("processor count %d, maximum %d and weight %d: at most one may be set: %w", cpu.Count, cpu.Maximum, cpu.Weight, errdefs.ErrInvalidArgument)
	}
	if processors > 0 && cpu.Count > processors {
		cpu.Count = processors
	}
	if memMB > 0 {
		ct.Memory = &schema.Memory{SizeInMB: memMB}
	}
	if cpu != (schema.Processor{}) {
		ct.Processor = &cpu
	}
	if qos != (schema.StorageQoS{}) {
		ct.Storage.QoS = &qos
	}
	return nil
}

// pipePrefix is how a Windows named pipe path starts.
const pipePrefix = `\\.\pipe\`

// mounts maps the spec's bind mounts: host directories become mapped
// directories, host named pipes mapped pipes. Other kinds are refused
// rather than dropped.
func mounts(ct *schema.Container, ms []specs.Mount, guestPath func(string) (string, error)) error {
	for _, m := range ms {
		if m.Type != "" && m.Type != "bind" {
			return fmt.Errorf("mount %s: type %q: a Windows container takes bind mounts only: %w", m.Destination, m.Type, errdefs.ErrInvalidArgument)
		}
		if m.Source == "" || m.Destination == "" {
			return fmt.Errorf("mount %q -> %q: source and destination are required: %w", m.Source, m.Destination, errdefs.ErrInvalidArgument)
		}
		if strings.HasPrefix(strings.ToLower(m.Source), pipePrefix) {
			if guestPath != nil {
				return fmt.Errorf("mount %s: named pipes into a Hyper-V isolated container are not supported: %w", m.Source, errdefs.ErrNotImplemented)
			}
			ct.MappedPipes = append(ct.MappedPipes, schema.MappedPipe{
				ContainerPipeName: strings.TrimPrefix(strings.ToLower(m.Destination), pipePrefix),
				HostPath:          m.Source,
			})
			continue
		}
		if strings.Contains(m.Source, "://") {
			return fmt.Errorf("mount %s: source scheme is not supported: %w", m.Source, errdefs.ErrInvalidArgument)
		}
		src := m.Source
		if guestPath != nil {
			var err error
			if src, err = guestPath(m.Source); err != nil {
				return fmt.Errorf("mount %s: %w", m.Source, err)
			}
		}
		ct.MappedDirectories = append(ct.MappedDirectories, schema.MappedDirectory{
			HostPath:      src,
			ContainerPath: m.Destination,
			ReadOnly:      readOnly(m.Options),
		})
	}
	return nil
}

func readOnly(opts []string) bool {
	for _, o := range opts {
		if o == "ro" {
			return true
		}
	}
	return false
}

// Stdio says which of a process's std streams containerd connected.
type Stdio struct {
	Stdin, Stdout, Stderr bool
}

// Process is the HcsCreateProcess document for an OCI process of a
// Windows container. commandLine is the process's command line, composed
// from its args by the caller with Windows' quoting rules when the spec
// has no commandLine of its own.
func Process(p *specs.Process, commandLine string, io Stdio) (*schema.ProcessParameters, error) {
	if p == nil {
		return nil, fmt.Errorf("no process: %w", errdefs.ErrInvalidArgument)
	}
	if p.CommandLine != "" {
		commandLine = p.CommandLine
	}
	if commandLine == "" {
		return nil, fmt.Errorf("process has neither args nor a command line: %w", errdefs.ErrInvalidArgument)
	}
	pp := &schema.ProcessParameters{
		CommandLine:      commandLine,
		User:             p.User.Username,
		WorkingDirectory: p.Cwd,
		EmulateConsole:   p.Terminal,
		CreateStdInPipe:  io.Stdin,
		CreateStdOutPipe: io.Stdout,
		// A console merges stderr into its one output.
		CreateStdErrPipe: io.Stderr && !p.Terminal,
	}
	if len(p.Env) > 0 {
		pp.Environment = make(map[string]string, len(p.Env))
		for _, kv := range p.Env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("environment entry %q is not NAME=value: %w", kv, errdefs.ErrInvalidArgument)
			}
			pp.Environment[k] = v
		}
	}
	if p.Terminal && p.ConsoleSize != nil {
		pp.ConsoleSize = []int32{int32(p.ConsoleSize.Height), int32(p.ConsoleSize.Width)}
	}
	return pp, nil
}
