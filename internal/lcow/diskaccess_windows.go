//go:build windows

package lcow

import "github.com/winctr/winctr/internal/hcs"

// hostDiskAccess is the host's file access lists.
type hostDiskAccess struct{}

func (hostDiskAccess) GrantVM(vmID, path string) error { return hcs.GrantVMAccess(vmID, path) }
func (hostDiskAccess) GrantVMGroup(path string) error  { return hcs.GrantVMGroupAccess(path) }
