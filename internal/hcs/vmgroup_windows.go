//go:build windows

package hcs

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// vmGroupSID is NT VIRTUAL MACHINE\Virtual Machines: every VM's identity
// is a member.
const vmGroupSID = "S-1-5-83-0"

// GrantVMGroupAccess lets every utility VM read path (a shared image
// layer's disk). Windows merges the grant into the group's entry, so
// granting again adds none.
func GrantVMGroupAccess(path string) error {
	sid, err := windows.StringToSid(vmGroupSID)
	if err != nil {
		return err
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("access list of %s: %w", path, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("access list of %s: %w", path, err)
	}
	merged, err := windows.ACLFromEntries([]windows.EXPLICIT_ACCESS{{
		AccessPermissions: windows.GENERIC_READ | windows.GENERIC_EXECUTE,
		AccessMode:        windows.GRANT_ACCESS,
		Inheritance:       windows.NO_INHERITANCE,
		Trustee: windows.TRUSTEE{
			TrusteeForm:  windows.TRUSTEE_IS_SID,
			TrusteeType:  windows.TRUSTEE_IS_WELL_KNOWN_GROUP,
			TrusteeValue: windows.TrusteeValueFromSID(sid),
		},
	}}, dacl)
	if err != nil {
		return fmt.Errorf("grant the VM group %s: %w", path, err)
	}
	if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION, nil, nil, merged, nil); err != nil {
		return fmt.Errorf("grant the VM group %s: %w", path, err)
	}
	return nil
}
