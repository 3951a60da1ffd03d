package hcs

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/winctr/winctr/internal/hcs"
	"github.com/winctr/winctr/internal/hcs/schema"
	"github.com/winctr/winctr/internal/uvm"
)

// Who may bind and connect hvsockets of a utility VM: the local system and
// administrators, as the shim runs.
const hvSocketSDDL = "D:P(A;;FA;;;SY)(A;;FA;;;BA)"

// The boot files of a Linux utility VM, in its boot files directory. A
// vmlinux (uncompressed) boots directly; otherwise UEFI boots the
// compressed kernel, which carries an EFI stub.
const (
	LCOWKernelDirectFile = "vmlinux"
	LCOWKernelFile       = "kernel"
	LCOWInitrdFile       = "initrd.img"
)

// Default sizes of a utility VM when nothing asks for others.
const (
	DefaultVMMemoryMB = 1024
	DefaultVMCPUs     = 2
)

// Base is what every utility VM document is built from.
type Base struct {
	MemoryMB uint64
	CPUs     uint32
	// Scratch is the VM's own scratch disk (a VHDX), attached at SCSI 0:0.
	Scratch string
	// ConsolePipe, when set, is a host named pipe that gets the VM's first
	// serial port.
	ConsolePipe string
}

func (v Base) topology() *schema.Topology {
	mem, cpus := v.MemoryMB, v.CPUs
	if mem == 0 {
		mem = DefaultVMMemoryMB
	}
	if cpus == 0 {
		cpus = DefaultVMCPUs
	}
	return &schema.Topology{
		// Backed by pageable host memory that is committed as the guest
		// touches it: an idle VM costs the host what it uses, not its size.
		Memory:    &schema.VirtualMachineMemory{SizeInMB: mem, AllowOvercommit: true, EnableDeferredCommit: true},
		Processor: &schema.VirtualMachineProcessor{Count: cpus},
	}
}

func (v Base) devices() *schema.Devices {
	d := &schema.Devices{
		HvSocket: &schema.HvSocket2{HvSocketConfig: &schema.HvSocketSystemConfig{
			DefaultBindSecurityDescriptor:    hvSocketSDDL,
			DefaultConnectSecurityDescriptor: hvSocketSDDL,
		}},
	}
	if v.Scratch != "" {
		d.Scsi = map[string]schema.Scsi{"0": {Attachments: map[string]schema.Attachment{
			"0": {Type: "VirtualDisk", Path: v.Scratch},
		}}}
	}
	if v.ConsolePipe != "" {
		d.ComPorts = map[string]schema.ComPort{"0": {NamedPipe: v.ConsolePipe}}
	}
	return d
}

// WCOWVM is a Windows utility VM: it boots the image's own utility VM
// files (<UtilityVM>\Files), and HCS talks to the Windows guest's own
// agent for it.
type WCOWVM struct {
	Base
	// UtilityVMPath is the image's UtilityVM folder: the OCI spec's
	// windows.hyperv.utilityVMPath, or the base layer's UtilityVM folder.
	UtilityVMPath string
}

// wcowBootManager is the boot manager in a Windows utility VM image.
const wcowBootManager = `\EFI\Microsoft\Boot\bootmgfw.efi`

// WCOWUtilityVM is the document of a Windows utility VM.
func WCOWUtilityVM(v WCOWVM) (*schema.ComputeSystem, error) {
	if v.UtilityVMPath == "" || v.Scratch == "" {
		return nil, fmt.Errorf("a Windows utility VM needs its image's UtilityVM folder and a scratch disk: %w", errdefs.ErrInvalidArgument)
	}
	files := strings.TrimRight(v.UtilityVMPath, `\`) + `\Files`
	d := v.devices()
	d.VirtualSmb = &schema.VirtualSmb{
		Shares: []schema.VirtualSmbShare{{
			Name:    "os",
			Path:    files,
			Options: &schema.VirtualSmbShareOptions{ReadOnly: true, TakeBackupPrivilege: true, CacheIo: true, ShareRead: true, PseudoOplocks: true},
		}},
		DirectFileMappingInMB: 1024,
	}
	return &schema.ComputeSystem{
		Owner:         hcs.Owner,
		SchemaVersion: schema.V21,
		VirtualMachine: &schema.VirtualMachine{
			StopOnReset: true,
			// The RTC keeps local time, as a Windows guest expects; UEFI
			// boots from the "os" share above.
			Chipset: &schema.Chipset{
				Uefi: &schema.Uefi{BootThis: &schema.UefiBootEntry{
					DevicePath: wcowBootManager,
					DeviceType: "VmbFs",
				}},
			},
			ComputeTopology: v.topology(),
			Devices:         d,
			// HCS's own connection to the Windows guest's agent carries
			// the guest requests (mapped disks, combined layers, network);
			// winctr has no bridge of its own to that agent.
			GuestConnection: &schema.GuestConnection{},
		},
		ShouldTerminateOnLastHandleClosed: true,
	}, nil
}

// LCOWVM is a Linux utility VM running winctr's guest agent, which listens
// on hvsocket (vsock in the guest) port uvm.VsockPort.
type LCOWVM struct {
	Base
	// BootFiles is the directory with the kernel and initrd.
	BootFiles string
	// KernelDirect boots BootFiles\vmlinux without firmware (faster);
	// otherwise UEFI boots BootFiles\kernel.
	KernelDirect bool
	// KernelArgs are appended to winctr's kernel command line.
	KernelArgs string
}

// kernelCmdLine is the guest kernel's command line: the serial console
// for the guest's log when a pipe takes it (otherwise no UART is probed),
// no PCI bus to scan (Hyper-V's devices are on VMBus), as many CPUs as the
// VM has, no RAM disks or ACPI PM timer to set up, the agent on vsock
// (hvsocket) with Hyper-V's drivers, then the caller's extra arguments.
func kernelCmdLine(v LCOWVM) string {
	console := "8250_core.nr_uarts=0"
	if v.ConsolePipe != "" {
		console = "console=ttyS0"
	}
	cpus := v.CPUs
	if cpus == 0 {
		cpus = DefaultVMCPUs
	}
	cmd := fmt.Sprintf("%s panic=-1 quiet pci=off nr_cpus=%d brd.rd_nr=0 pmtmr=0 %s=vsock %s=hyperv", console, cpus, uvm.TransportParam, uvm.HypervisorParam)
	if extra := strings.TrimSpace(v.KernelArgs); extra != "" {
		cmd += " " + extra
	}
	return cmd
}

// LCOWUtilityVM is the document of a Linux utility VM.
func LCOWUtilityVM(v LCOWVM) (*schema.ComputeSystem, error) {
	if v.BootFiles == "" {
		return nil, fmt.Errorf("a Linux utility VM needs its boot files directory: %w", errdefs.ErrInvalidArgument)
	}
	dir := strings.TrimRight(v.BootFiles, `\`)
	cmd := kernelCmdLine(v)
	chipset := &schema.Chipset{UseUtc: true}
	if v.KernelDirect {
		chipset.LinuxKernelDirect = &schema.LinuxKernelDirect{
			KernelFilePath: dir + `\` + LCOWKernelDirectFile,
			InitRdPath:     dir + `\` + LCOWInitrdFile,
			KernelCmdLine:  cmd,
		}
	} else {
		chipset.Uefi = &schema.Uefi{BootThis: &schema.UefiBootEntry{
			DevicePath:    `\` + LCOWKernelFile,
			DeviceType:    "VmbFs",
			VmbFsRootPath: dir,
			// The EFI stub reads the initrd from the same VMBFS share.
			OptionalData: `initrd=\` + LCOWInitrdFile + " " + cmd,
		}}
	}
	d := v.devices()
	// Containers' layers and scratch disks arrive on this SCSI controller,
	// and their bind mounts as 9p shares, while the VM runs; both exist
	// from the start. The guest finds the controller by its key.
	if d.Scsi == nil {
		d.Scsi = map[string]schema.Scsi{}
	}
	d.Scsi[uvm.SCSIControllerGUID] = schema.Scsi{Attachments: map[string]schema.Attachment{}}
	d.Plan9 = &schema.Plan9{}
	return &schema.ComputeSystem{
		Owner:         hcs.Owner,
		SchemaVersion: schema.V21,
		VirtualMachine: &schema.VirtualMachine{
			StopOnReset:     true,
			Chipset:         chipset,
			ComputeTopology: v.topology(),
			Devices:         d,
		},
		ShouldTerminateOnLastHandleClosed: true,
	}, nil
}

// Plan9Port is the vsock port a Linux guest mounts 9p shares from.
const Plan9Port = 564

// AddPlan9Share is the HcsModifyComputeSystem document that shares
// hostPath with a Linux utility VM as name. caseSensitive says the host
// directory is case sensitive (CaseSensitiveDir): on an ordinary NTFS
// directory a case-sensitive share fails the guest's writes.
func AddPlan9Share(name, hostPath string, readOnly, caseSensitive bool) *schema.ModifySettingRequest {
	flags := schema.Plan9LinuxMetadata
	if caseSensitive {
		flags |= schema.Plan9CaseSensitive
	}
	if readOnly {
		flags |= schema.Plan9ReadOnly
	}
	return &schema.ModifySettingRequest{
		ResourcePath: schema.ResourcePathPlan9Shares,
		RequestType:  schema.RequestTypeAdd,
		Settings:     schema.Plan9Share{Name: name, AccessName: name, Path: hostPath, Port: Plan9Port, Flags: flags},
	}
}

// RemovePlan9Share undoes AddPlan9Share.
func RemovePlan9Share(name string) *schema.ModifySettingRequest {
	return &schema.ModifySettingRequest{
		ResourcePath: schema.ResourcePathPlan9Shares,
		RequestType:  schema.RequestTypeRemove,
		Settings:     schema.Plan9Share{Name: name, AccessName: name, Port: Plan9Port},
	}
}

// VSMBGuestPath is where a Windows guest sees the VSMB share name.
func VSMBGuestPath(name string) string {
	return `\\?\VMSMB\VSMB-{dcc079ae-60ba-4d07-847c-3493609c0870}\` + name
}

// AddVSMBShare is the HcsModifyComputeSystem document that shares
// hostPath with a Windows utility VM as name: read-only image layers, or a
// read-write bind mount.
func AddVSMBShare(name, hostPath string, readOnly bool) *schema.ModifySettingRequest {
	// Read-only shares are image layers: cached, opened past their ACLs
	// as backup does. A writable bind mount gets the defaults, so writes
	// reach the host and its ACLs apply.
	opts := &schema.VirtualSmbShareOptions{}
	if readOnly {
		opts = &schema.VirtualSmbShareOptions{ReadOnly: true, PseudoOplocks: true, TakeBackupPrivilege: true, CacheIo: true, ShareRead: true}
	}
	return &schema.ModifySettingRequest{
		ResourcePath: schema.ResourcePathVSMBShares,
		RequestType:  schema.RequestTypeAdd,
		Settings:     schema.VirtualSmbShare{Name: name, Path: hostPath, Options: opts},
	}
}

// RemoveVSMBShare undoes AddVSMBShare.
func RemoveVSMBShare(name string) *schema.ModifySettingRequest {
	return &schema.ModifySettingRequest{
		ResourcePath: schema.ResourcePathVSMBShares,
		RequestType:  schema.RequestTypeRemove,
		Settings:     schema.VirtualSmbShare{Name: name},
	}
}

// AddSCSIDisk attaches a virtual disk at lun of a Linux utility VM's
// container disk controller; the guest agent mounts it.
func AddSCSIDisk(vhd string, lun int32, readOnly bool) *schema.ModifySettingRequest {
	return &schema.ModifySettingRequest{
		ResourcePath: fmt.Sprintf(schema.ResourcePathSCSIFormat, uvm.SCSIControllerGUID, lun),
		RequestType:  schema.RequestTypeAdd,
		Settings:     schema.Attachment{Type: "VirtualDisk", Path: vhd, ReadOnly: readOnly},
	}
}

// RemoveSCSIDisk undoes AddSCSIDisk.
func RemoveSCSIDisk(lun int32) *schema.ModifySettingRequest {
	return &schema.ModifySettingRequest{
		ResourcePath: fmt.Sprintf(schema.ResourcePathSCSIFormat, uvm.SCSIControllerGUID, lun),
		RequestType:  schema.RequestTypeRemove,
	}
}

// AddScratchDisk attaches a container's scratch VHDX at SCSI 0:lun of a
// Windows utility VM and has the guest mount it on guestPath.
func AddScratchDisk(vhdx string, lun int32, guestPath string) *schema.ModifySettingRequest {
	return &schema.ModifySettingRequest{
		ResourcePath: fmt.Sprintf(schema.ResourcePathSCSIFormat, "0", lun),
		RequestType:  schema.RequestTypeAdd,
		Settings:     schema.Attachment{Type: "VirtualDisk", Path: vhdx},
		GuestRequest: &schema.GuestRequest{
			ResourceType: schema.GuestResourceMappedVirtualDisk,
			RequestType:  schema.RequestTypeAdd,
			Settings:     schema.WCOWMappedVirtualDisk{ContainerPath: guestPath, Lun: lun},
		},
	}
}

// RemoveScratchDisk undoes AddScratchDisk.
func RemoveScratchDisk(lun int32, guestPath string) *schema.ModifySettingRequest {
	return &schema.ModifySettingRequest{
		ResourcePath: fmt.Sprintf(schema.ResourcePathSCSIFormat, "0", lun),
		RequestType:  schema.RequestTypeRemove,
		GuestRequest: &schema.GuestRequest{
			ResourceType: schema.GuestResourceMappedVirtualDisk,
			RequestType:  schema.RequestTypeRemove,
			Settings:     schema.WCOWMappedVirtualDisk{ContainerPath: guestPath, Lun: lun},
		},
	}
}

// CombineLayers has a Windows guest build a container's root at
// rootPath from layers it sees on VSMB shares and the scratch it mounted.
func CombineLayers(rootPath string, layers []schema.Layer, add bool) *schema.ModifySettingRequest {
	rt := schema.RequestTypeAdd
	if !add {
		rt = schema.RequestTypeRemove
	}
	return &schema.ModifySettingRequest{GuestRequest: &schema.GuestRequest{
		ResourceType: schema.GuestResourceCombinedLayers,
		RequestType:  rt,
		Settings:     schema.WCOWCombinedLayers{ContainerRootPath: rootPath, Layers: layers},
	}}
}

// GuestContainerRoot is where a Hyper-V isolated container's scratch is
// mounted in its utility VM: C:\c\<n>.
func GuestContainerRoot(n int) string {
	return fmt.Sprintf(`C:\c\%d`, n)
}

// AddGuestNetworkNamespace gives a Windows guest the pod's HNS namespace
// (hns, the namespace as HNS describes it), before its adapters arrive.
func AddGuestNetworkNamespace(hns any) *schema.ModifySettingRequest {
	return &schema.ModifySettingRequest{GuestRequest: &schema.GuestRequest{
		ResourceType: schema.GuestResourceNetworkNamespace,
		RequestType:  schema.RequestTypeAdd,
		Settings:     hns,
	}}
}

// PreAddNIC readies a Windows guest for the adapter nicID of an HNS
// endpoint (endpoint, as HNS describes it).
func PreAddNIC(nicID string, endpoint any) *schema.ModifySettingRequest {
	return &schema.ModifySettingRequest{GuestRequest: &schema.GuestRequest{
		ResourceType: schema.GuestResourceNetwork,
		RequestType:  schema.RequestTypeAdd,
		Settings:     schema.NetworkModifyRequest{AdapterId: nicID, RequestType: schema.RequestTypePreAdd, Settings: endpoint},
	}}
}

// AddNIC adds the network adapter nicID, connected to an HNS endpoint, to
// a utility VM; a Windows guest brings it up itself, a Linux guest's agent
// is told the addresses afterwards.
func AddNIC(nicID, endpointID, mac string, windowsGuest bool) *schema.ModifySettingRequest {
	r := &schema.ModifySettingRequest{
		ResourcePath: fmt.Sprintf(schema.ResourcePathNetworkAdapterFormat, nicID),
		RequestType:  schema.RequestTypeAdd,
		Settings:     schema.NetworkAdapter{EndpointId: endpointID, MacAddress: mac},
	}
	if windowsGuest {
		r.GuestRequest = &schema.GuestRequest{
			ResourceType: schema.GuestResourceNetwork,
			RequestType:  schema.RequestTypeAdd,
			Settings:     schema.NetworkModifyRequest{AdapterId: nicID, RequestType: schema.RequestTypeAdd},
		}
	}
	return r
}
