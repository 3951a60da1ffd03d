// Package schema holds the HCS (Host Compute Service) JSON documents that
// winctr sends and reads, as Go types. Type and field names follow
// Microsoft's HCS schema reference (schema version 2.x), so a document can
// be checked against that reference field by field; only what winctr uses
// is here. The package has no platform code: the documents are built and
// tested on every OS.
package schema

import "time"

// Version is a schema version.
type Version struct {
	Major int32 `json:"Major,omitempty"`
	Minor int32 `json:"Minor,omitempty"`
}

// V21 is the schema version of every document winctr writes: the first one
// with LinuxKernelDirect and hosted containers as used here (Windows Server
// 2019 and later).
var V21 = &Version{Major: 2, Minor: 1}

// ComputeSystem is the document of HcsCreateComputeSystem: a container on
// the host, a container hosted in a utility VM, or a utility VM.
type ComputeSystem struct {
	Owner                             string          `json:"Owner,omitempty"`
	SchemaVersion                     *Version        `json:"SchemaVersion,omitempty"`
	HostingSystemId                   string          `json:"HostingSystemId,omitempty"`
	HostedSystem                      *HostedSystem   `json:"HostedSystem,omitempty"`
	Container                         *Container      `json:"Container,omitempty"`
	VirtualMachine                    *VirtualMachine `json:"VirtualMachine,omitempty"`
	ShouldTerminateOnLastHandleClosed bool            `json:"ShouldTerminateOnLastHandleClosed,omitempty"`
}

// HostedSystem is a container that HCS creates inside the utility VM named
// by ComputeSystem.HostingSystemId.
type HostedSystem struct {
	SchemaVersion *Version   `json:"SchemaVersion,omitempty"`
	Container     *Container `json:"Container,omitempty"`
}

// Container is a Windows Server container (a silo).
type Container struct {
	GuestOs           *GuestOs          `json:"GuestOs,omitempty"`
	Storage           *Storage          `json:"Storage,omitempty"`
	MappedDirectories []MappedDirectory `json:"MappedDirectories,omitempty"`
	MappedPipes       []MappedPipe      `json:"MappedPipes,omitempty"`
	Memory            *Memory           `json:"Memory,omitempty"`
	Processor         *Processor        `json:"Processor,omitempty"`
	Networking        *Networking       `json:"Networking,omitempty"`
	HvSocket          *HvSocket         `json:"HvSocket,omitempty"`
}

// GuestOs is the container's identity as the guest OS sees it.
type GuestOs struct {
	HostName string `json:"HostName,omitempty"`
}

// Storage is a container's image layers and scratch.
type Storage struct {
	// Layers are the read-only layers, topmost first.
	Layers []Layer `json:"Layers,omitempty"`
	// Path is the mounted scratch volume (process isolation) or the
	// container's root path in the utility VM (Hyper-V isolation).
	Path string      `json:"Path,omitempty"`
	QoS  *StorageQoS `json:"QoS,omitempty"`
}

// Layer is one read-only image layer.
type Layer struct {
	Id       string `json:"Id,omitempty"`
	Path     string `json:"Path,omitempty"`
	PathType string `json:"PathType,omitempty"`
}

// StorageQoS limits a container's storage I/O.
type StorageQoS struct {
	IopsMaximum      int32 `json:"IopsMaximum,omitempty"`
	BandwidthMaximum int32 `json:"BandwidthMaximum,omitempty"`
}

// MappedDirectory is a host directory seen inside the container.
type MappedDirectory struct {
	HostPath      string `json:"HostPath,omitempty"`
	HostPathType  string `json:"HostPathType,omitempty"`
	ContainerPath string `json:"ContainerPath,omitempty"`
	ReadOnly      bool   `json:"ReadOnly,omitempty"`
}

// MappedPipe is a host named pipe seen inside the container.
type MappedPipe struct {
	ContainerPipeName string `json:"ContainerPipeName,omitempty"`
	HostPath          string `json:"HostPath,omitempty"`
	HostPathType      string `json:"HostPathType,omitempty"`
}

// Memory limits a container's memory.
type Memory struct {
	SizeInMB uint64 `json:"SizeInMB,omitempty"`
}

// Processor limits a container's CPU: Count processors, Maximum in
// hundredths of a percent of the whole machine (1-10000), Weight relative
// to other containers (1-10000).
type Processor struct {
	Count   int32 `json:"Count,omitempty"`
	Maximum int32 `json:"Maximum,omitempty"`
	Weight  int32 `json:"Weight,omitempty"`
}

// Networking attaches a container to an HNS network namespace.
type Networking struct {
	AllowUnqualifiedDnsQuery   bool     `json:"AllowUnqualifiedDnsQuery,omitempty"`
	DnsSearchList              string   `json:"DnsSearchList,omitempty"`
	NetworkSharedContainerName string   `json:"NetworkSharedContainerName,omitempty"`
	Namespace                  string   `json:"Namespace,omitempty"`
	NetworkAdapters            []string `json:"NetworkAdapters,omitempty"`
}

// HvSocket is a container's hvsocket settings.
type HvSocket struct {
	Config                 *HvSocketSystemConfig `json:"Config,omitempty"`
	EnablePowerShellDirect bool                  `json:"EnablePowerShellDirect,omitempty"`
}

// HvSocketSystemConfig says who may bind and connect hvsockets, as SDDL.
type HvSocketSystemConfig struct {
	DefaultBindSecurityDescriptor    string                           `json:"DefaultBindSecurityDescriptor,omitempty"`
	DefaultConnectSecurityDescriptor string                           `json:"DefaultConnectSecurityDescriptor,omitempty"`
	ServiceTable                     map[string]HvSocketServiceConfig `json:"ServiceTable,omitempty"`
}

// HvSocketServiceConfig is the access to one hvsocket service id.
type HvSocketServiceConfig struct {
	BindSecurityDescriptor    string `json:"BindSecurityDescriptor,omitempty"`
	ConnectSecurityDescriptor string `json:"ConnectSecurityDescriptor,omitempty"`
	AllowWildcardBinds        bool   `json:"AllowWildcardBinds,omitempty"`
	Disabled                  bool   `json:"Disabled,omitempty"`
}

// ResultError is the result document of a failed HCS call.
type ResultError struct {
	Error        int32        `json:"Error,omitempty"`
	ErrorMessage string       `json:"ErrorMessage,omitempty"`
	ErrorEvents  []ErrorEvent `json:"ErrorEvents,omitempty"`
}

// ErrorEvent is one event HCS recorded while an operation failed.
type ErrorEvent struct {
	Message  string `json:"Message,omitempty"`
	Provider string `json:"Provider,omitempty"`
	EventId  uint16 `json:"EventId,omitempty"`
	Source   string `json:"Source,omitempty"`
}

// SystemExitStatus is the event data of a compute system's exit.
type SystemExitStatus struct {
	Status   int32  `json:"Status,omitempty"`
	ExitType string `json:"ExitType,omitempty"`
}

// PropertyType names what HcsGetComputeSystemProperties returns.
type PropertyType string

// The property types winctr queries.
const (
	PropertyTypeStatistics  PropertyType = "Statistics"
	PropertyTypeProcessList PropertyType = "ProcessList"
)

// PropertyQuery is the query of HcsGetComputeSystemProperties.
type PropertyQuery struct {
	PropertyTypes []PropertyType `json:"PropertyTypes,omitempty"`
}

// Properties is a compute system's properties, as queried.
type Properties struct {
	Id              string           `json:"Id,omitempty"`
	SystemType      string           `json:"SystemType,omitempty"`
	RuntimeOsType   string           `json:"RuntimeOsType,omitempty"`
	Owner           string           `json:"Owner,omitempty"`
	RuntimeId       string           `json:"RuntimeId,omitempty"`
	State           string           `json:"State,omitempty"`
	Stopped         bool             `json:"Stopped,omitempty"`
	ExitType        string           `json:"ExitType,omitempty"`
	Statistics      *Statistics      `json:"Statistics,omitempty"`
	ProcessList     []ProcessDetails `json:"ProcessList,omitempty"`
	HostingSystemId string           `json:"HostingSystemId,omitempty"`
}

// Statistics is a compute system's resource use.
type Statistics struct {
	Timestamp          time.Time       `json:"Timestamp,omitempty"`
	ContainerStartTime time.Time       `json:"ContainerStartTime,omitempty"`
	Uptime100ns        uint64          `json:"Uptime100ns,omitempty"`
	Processor          *ProcessorStats `json:"Processor,omitempty"`
	Memory             *MemoryStats    `json:"Memory,omitempty"`
	Storage            *StorageStats   `json:"Storage,omitempty"`
}

// ProcessorStats is CPU time in 100 ns units.
type ProcessorStats struct {
	TotalRuntime100ns  uint64 `json:"TotalRuntime100ns,omitempty"`
	RuntimeUser100ns   uint64 `json:"RuntimeUser100ns,omitempty"`
	RuntimeKernel100ns uint64 `json:"RuntimeKernel100ns,omitempty"`
}

// MemoryStats is memory use in bytes.
type MemoryStats struct {
	MemoryUsageCommitBytes            uint64 `json:"MemoryUsageCommitBytes,omitempty"`
	MemoryUsageCommitPeakBytes        uint64 `json:"MemoryUsageCommitPeakBytes,omitempty"`
	MemoryUsagePrivateWorkingSetBytes uint64 `json:"MemoryUsagePrivateWorkingSetBytes,omitempty"`
}

// StorageStats is storage I/O.
type StorageStats struct {
	ReadCountNormalized  uint64 `json:"ReadCountNormalized,omitempty"`
	ReadSizeBytes        uint64 `json:"ReadSizeBytes,omitempty"`
	WriteCountNormalized uint64 `json:"WriteCountNormalized,omitempty"`
	WriteSizeBytes       uint64 `json:"WriteSizeBytes,omitempty"`
}

// ProcessDetails is one process of a compute system. HCS fills the list
// from its schema1 process items, whose counters are 64-bit: CPU time
// passes 2^31 hundred-nanosecond units in minutes, commit in 2 GiB.
type ProcessDetails struct {
	ProcessId                    uint32    `json:"ProcessId,omitempty"`
	ImageName                    string    `json:"ImageName,omitempty"`
	CreateTimestamp              time.Time `json:"CreateTimestamp,omitempty"`
	UserTime100ns                uint64    `json:"UserTime100ns,omitempty"`
	KernelTime100ns              uint64    `json:"KernelTime100ns,omitempty"`
	MemoryCommitBytes            uint64    `json:"MemoryCommitBytes,omitempty"`
	MemoryWorkingSetPrivateBytes uint64    `json:"MemoryWorkingSetPrivateBytes,omitempty"`
	MemoryWorkingSetSharedBytes  uint64    `json:"MemoryWorkingSetSharedBytes,omitempty"`
}

// RequestType is what a ModifySettingRequest does.
type RequestType string

// The request types of ModifySettingRequest.
const (
	RequestTypeAdd    RequestType = "Add"
	RequestTypeRemove RequestType = "Remove"
	RequestTypeUpdate RequestType = "Update"
	// RequestTypePreAdd readies a Windows guest for a network adapter
	// before it is added.
	RequestTypePreAdd RequestType = "PreAdd"
)

// ModifySettingRequest is the document of HcsModifyComputeSystem: a change
// of a resource on the host side (ResourcePath + Settings) and, for a
// utility VM, the matching request to its guest (GuestRequest).
type ModifySettingRequest struct {
	ResourcePath string        `json:"ResourcePath,omitempty"`
	RequestType  RequestType   `json:"RequestType,omitempty"`
	Settings     any           `json:"Settings,omitempty"`
	GuestRequest *GuestRequest `json:"GuestRequest,omitempty"`
}

// GuestRequest is the part of a modification that the guest carries out.
type GuestRequest struct {
	ResourceType string      `json:"ResourceType,omitempty"`
	RequestType  RequestType `json:"RequestType,omitempty"`
	Settings     any         `json:"Settings,omitempty"`
}

// The resource paths of a container's and a utility VM's settings that
// winctr modifies.
const (
	ResourcePathContainerMemory    = "Container/Memory/SizeInMB"
	ResourcePathContainerProcessor = "Container/Processor"
	ResourcePathPlan9Shares        = "VirtualMachine/Devices/Plan9/Shares"
	ResourcePathVSMBShares         = "VirtualMachine/Devices/VirtualSmb/Shares"
	// ResourcePathNetworkAdapterFormat takes the adapter's id.
	ResourcePathNetworkAdapterFormat = "VirtualMachine/Devices/NetworkAdapters/%s"
	// ResourcePathSCSIFormat takes the controller (a string key) and LUN.
	ResourcePathSCSIFormat = "VirtualMachine/Devices/Scsi/%s/Attachments/%d"
)

// Guest resource types of a Windows utility VM's guest (HCS's own agent).
const (
	GuestResourceCombinedLayers    = "CombinedLayers"
	GuestResourceMappedVirtualDisk = "MappedVirtualDisk"
	GuestResourceNetwork           = "Network"
	GuestResourceNetworkNamespace  = "NetworkNamespace"
)

// NetworkModifyRequest is a Windows guest's part of adding or removing a
// network adapter (Windows Server 2019 and later).
type NetworkModifyRequest struct {
	AdapterId   string      `json:"AdapterId,omitempty"`
	RequestType RequestType `json:"RequestType,omitempty"`
	Settings    any         `json:"Settings,omitempty"`
}

// WCOWCombinedLayers asks a Windows guest to set up a container's root
// from layers it sees over VSMB and a scratch disk it mounted.
type WCOWCombinedLayers struct {
	ContainerRootPath string  `json:"ContainerRootPath,omitempty"`
	Layers            []Layer `json:"Layers,omitempty"`
	ScratchPath       string  `json:"ScratchPath,omitempty"`
}

// WCOWMappedVirtualDisk asks a Windows guest to mount the SCSI disk at Lun
// of controller 0 on ContainerPath.
type WCOWMappedVirtualDisk struct {
	ContainerPath string `json:"ContainerPath,omitempty"`
	Lun           int32  `json:"Lun,omitempty"`
}
