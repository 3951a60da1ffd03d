package schema

// VirtualMachine is a utility VM.
type VirtualMachine struct {
	StopOnReset     bool             `json:"StopOnReset,omitempty"`
	Chipset         *Chipset         `json:"Chipset,omitempty"`
	ComputeTopology *Topology        `json:"ComputeTopology,omitempty"`
	Devices         *Devices         `json:"Devices,omitempty"`
	GuestConnection *GuestConnection `json:"GuestConnection,omitempty"`
}

// Chipset is how the VM boots: UEFI, or a Linux kernel loaded directly.
type Chipset struct {
	Uefi              *Uefi              `json:"Uefi,omitempty"`
	UseUtc            bool               `json:"UseUtc,omitempty"`
	LinuxKernelDirect *LinuxKernelDirect `json:"LinuxKernelDirect,omitempty"`
}

// Uefi boots the VM through its UEFI firmware.
type Uefi struct {
	BootThis *UefiBootEntry `json:"BootThis,omitempty"`
	Console  string         `json:"Console,omitempty"`
}

// UefiBootEntry is the one thing UEFI boots: DevicePath on a VMBFS share of
// VmbFsRootPath (DeviceType "VmbFs"), with OptionalData as its arguments.
type UefiBootEntry struct {
	DeviceType    string `json:"DeviceType,omitempty"`
	DevicePath    string `json:"DevicePath,omitempty"`
	DiskNumber    int32  `json:"DiskNumber,omitempty"`
	OptionalData  string `json:"OptionalData,omitempty"`
	VmbFsRootPath string `json:"VmbFsRootPath,omitempty"`
}

// LinuxKernelDirect boots an uncompressed Linux kernel (vmlinux) without
// firmware.
type LinuxKernelDirect struct {
	KernelFilePath string `json:"KernelFilePath,omitempty"`
	InitRdPath     string `json:"InitRdPath,omitempty"`
	KernelCmdLine  string `json:"KernelCmdLine,omitempty"`
}

// Topology is the VM's memory and processors.
type Topology struct {
	Memory    *VirtualMachineMemory    `json:"Memory,omitempty"`
	Processor *VirtualMachineProcessor `json:"Processor,omitempty"`
}

// VirtualMachineMemory sizes the VM's memory. AllowOvercommit backs it with
// host virtual memory that can be paged and trimmed; EnableDeferredCommit
// commits it only when the guest touches it.
type VirtualMachineMemory struct {
	SizeInMB              uint64 `json:"SizeInMB,omitempty"`
	AllowOvercommit       bool   `json:"AllowOvercommit,omitempty"`
	EnableHotHint         bool   `json:"EnableHotHint,omitempty"`
	EnableColdHint        bool   `json:"EnableColdHint,omitempty"`
	EnableColdDiscardHint bool   `json:"EnableColdDiscardHint,omitempty"`
	EnableDeferredCommit  bool   `json:"EnableDeferredCommit,omitempty"`
}

// VirtualMachineProcessor sizes the VM's processors.
type VirtualMachineProcessor struct {
	Count  uint32 `json:"Count,omitempty"`
	Limit  uint64 `json:"Limit,omitempty"`
	Weight uint64 `json:"Weight,omitempty"`
}

// Devices are the VM's devices. Map keys of Scsi are controller numbers,
// of ComPorts port numbers, of NetworkAdapters adapter ids.
type Devices struct {
	ComPorts        map[string]ComPort        `json:"ComPorts,omitempty"`
	Scsi            map[string]Scsi           `json:"Scsi,omitempty"`
	NetworkAdapters map[string]NetworkAdapter `json:"NetworkAdapters,omitempty"`
	HvSocket        *HvSocket2                `json:"HvSocket,omitempty"`
	VirtualSmb      *VirtualSmb               `json:"VirtualSmb,omitempty"`
	Plan9           *Plan9                    `json:"Plan9,omitempty"`
}

// ComPort is a serial port, connected to a host named pipe.
type ComPort struct {
	NamedPipe string `json:"NamedPipe,omitempty"`
}

// Scsi is a SCSI controller; Attachments' keys are LUNs.
type Scsi struct {
	Attachments map[string]Attachment `json:"Attachments,omitempty"`
}

// Attachment is a disk on a SCSI controller.
type Attachment struct {
	// Type is "VirtualDisk" (a VHD/VHDX file) or "PassThru".
	Type     string `json:"Type,omitempty"`
	Path     string `json:"Path,omitempty"`
	ReadOnly bool   `json:"ReadOnly,omitempty"`
}

// NetworkAdapter connects the VM to an HNS endpoint.
type NetworkAdapter struct {
	EndpointId string `json:"EndpointId,omitempty"`
	MacAddress string `json:"MacAddress,omitempty"`
}

// HvSocket2 is a VM's hvsocket device.
type HvSocket2 struct {
	HvSocketConfig *HvSocketSystemConfig `json:"HvSocketConfig,omitempty"`
}

// VirtualSmb shares host directories with a Windows guest.
type VirtualSmb struct {
	Shares                []VirtualSmbShare `json:"Shares,omitempty"`
	DirectFileMappingInMB int64             `json:"DirectFileMappingInMB,omitempty"`
}

// VirtualSmbShare is one VSMB share.
type VirtualSmbShare struct {
	Name    string                  `json:"Name,omitempty"`
	Path    string                  `json:"Path,omitempty"`
	Options *VirtualSmbShareOptions `json:"Options,omitempty"`
}

// VirtualSmbShareOptions tune a VSMB share; read-only image layers want
// ReadOnly, CacheIo, ShareRead and PseudoOplocks.
type VirtualSmbShareOptions struct {
	ReadOnly            bool `json:"ReadOnly,omitempty"`
	ShareRead           bool `json:"ShareRead,omitempty"`
	CacheIo             bool `json:"CacheIo,omitempty"`
	NoOplocks           bool `json:"NoOplocks,omitempty"`
	TakeBackupPrivilege bool `json:"TakeBackupPrivilege,omitempty"`
	NoDirectmap         bool `json:"NoDirectmap,omitempty"`
	PseudoOplocks       bool `json:"PseudoOplocks,omitempty"`
	PseudoDirnotify     bool `json:"PseudoDirnotify,omitempty"`
}

// Plan9 shares host directories with a Linux guest over 9p on hvsocket.
type Plan9 struct {
	Shares []Plan9Share `json:"Shares,omitempty"`
}

// Plan9Share is one 9p share; the guest mounts it by AccessName on Port.
type Plan9Share struct {
	Name       string `json:"Name,omitempty"`
	AccessName string `json:"AccessName,omitempty"`
	Path       string `json:"Path,omitempty"`
	Port       int32  `json:"Port,omitempty"`
	Flags      int32  `json:"Flags,omitempty"`
}

// Plan9 share flags.
const (
	Plan9ReadOnly      int32 = 0x00000001
	Plan9LinuxMetadata int32 = 0x00000004
	Plan9CaseSensitive int32 = 0x00000008
)

// GuestConnection asks HCS to connect to the guest's own HCS agent (the
// Windows GCS); LCOW VMs, whose agent is winctr's, go without it.
type GuestConnection struct {
	UseVsock            bool `json:"UseVsock,omitempty"`
	UseConnectedSuspend bool `json:"UseConnectedSuspend,omitempty"`
}

// ProcessParameters is the document of HcsCreateProcess.
type ProcessParameters struct {
	ApplicationName  string            `json:"ApplicationName,omitempty"`
	CommandLine      string            `json:"CommandLine,omitempty"`
	User             string            `json:"User,omitempty"`
	WorkingDirectory string            `json:"WorkingDirectory,omitempty"`
	Environment      map[string]string `json:"Environment,omitempty"`
	EmulateConsole   bool              `json:"EmulateConsole,omitempty"`
	CreateStdInPipe  bool              `json:"CreateStdInPipe,omitempty"`
	CreateStdOutPipe bool              `json:"CreateStdOutPipe,omitempty"`
	CreateStdErrPipe bool              `json:"CreateStdErrPipe,omitempty"`
	// ConsoleSize is height, width.
	ConsoleSize []int32 `json:"ConsoleSize,omitempty"`
}

// ProcessStatus is a process's state; also the event data of its exit.
type ProcessStatus struct {
	ProcessId      uint32 `json:"ProcessId,omitempty"`
	Exited         bool   `json:"Exited,omitempty"`
	ExitCode       uint32 `json:"ExitCode,omitempty"`
	LastWaitResult int32  `json:"LastWaitResult,omitempty"`
}

// ProcessModifyRequest is the document of HcsModifyProcess.
type ProcessModifyRequest struct {
	// Operation is "ConsoleSize" or "CloseHandle".
	Operation   string       `json:"Operation,omitempty"`
	ConsoleSize *ConsoleSize `json:"ConsoleSize,omitempty"`
	CloseHandle *CloseHandle `json:"CloseHandle,omitempty"`
}

// ConsoleSize is a console's size in characters.
type ConsoleSize struct {
	Height uint16 `json:"Height,omitempty"`
	Width  uint16 `json:"Width,omitempty"`
}

// CloseHandle closes one of a process's std handles: "StdIn", "StdOut",
// "StdErr" or "All".
type CloseHandle struct {
	Handle string `json:"Handle,omitempty"`
}

// SignalProcessOptions is the document of HcsSignalProcess. Windows
// processes take a console control event name ("CtrlC", "CtrlBreak",
// "CtrlClose", "CtrlLogOff", "CtrlShutdown").
type SignalProcessOptions struct {
	Signal string `json:"Signal,omitempty"`
}
