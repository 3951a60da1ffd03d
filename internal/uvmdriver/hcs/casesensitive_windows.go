//go:build windows

package hcs

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// CaseSensitiveDir tells whether the host directory dir has per-directory
// case sensitivity on (fsutil file setCaseSensitiveInfo), for
// AddPlan9Share. Where it cannot tell (an older Windows, another file
// system) the directory is taken as case insensitive, NTFS's default.
func CaseSensitiveDir(dir string) bool {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return false
	}
	h, err := windows.CreateFile(p, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return false
	}
	defer windows.CloseHandle(h)
	var flags uint32 // FILE_CASE_SENSITIVE_INFO
	if err := windows.GetFileInformationByHandleEx(h, windows.FileCaseSensitiveInfo, (*byte)(unsafe.Pointer(&flags)), uint32(unsafe.Sizeof(flags))); err != nil {
		return false
	}
	return flags&windows.FILE_CS_FLAG_CASE_SENSITIVE_DIR != 0
}
