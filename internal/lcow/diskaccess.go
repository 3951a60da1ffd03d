package lcow

// diskAccess lets utility VMs open the disks attached to them: Hyper-V
// runs each VM under an identity of its own.
type diskAccess interface {
	// GrantVM adds an entry for the one VM vmID to the file's access list.
	GrantVM(vmID, path string) error
	// GrantVMGroup lets every VM read the file: one entry, however many
	// VMs use it.
	GrantVMGroup(path string) error
}

// grantDisk lets the VM vmID open the disk vhd. A shared disk (an image
// layer, read-only, used by every pod's VM) gets the group's entry, as
// containerd's LCOW differ gives it, so its access list does not grow by
// one entry per pod that never goes away; a disk of one container (its
// scratch) gets its VM's.
func grantDisk(a diskAccess, vmID, vhd string, shared bool) error {
	if shared {
		return a.GrantVMGroup(vhd)
	}
	return a.GrantVM(vmID, vhd)
}
