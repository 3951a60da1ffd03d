// Package hcs calls the Host Compute Service (computecore.dll) on Windows
// hosts: compute systems (containers and utility VMs) and their
// processes, with contexts, exit notifications from HCS's callbacks, and
// errors that carry the HRESULT and HCS's own error text and map to
// containerd's errdefs. The raw bindings in zsyscall_windows.go are
// generated from the //sys lines in syscall_windows.go.
package hcs

//go:generate go run golang.org/x/sys/windows/mkwinsyscall -output zsyscall_windows.go syscall_windows.go

// Owner is the owner HCS records for every compute system winctr creates
// (hcsdiag list shows it).
const Owner = "winctr"
