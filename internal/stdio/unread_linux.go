package stdio

import (
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// fifoUnread returns a function that reads how many bytes wait in the
// FIFO behind w for its reader (TIOCINQ, FIONREAD's Linux name), or nil
// where w cannot tell.
func fifoUnread(w io.Writer) func() (int, error) { return unreadBytes(w) }

// unreadBytes is fifoUnread for a pipe's, FIFO's or terminal's file of
// either end: a syscall.Conn, or a console's Fd.
func unreadBytes(x any) func() (int, error) {
	if f, ok := x.(interface{ Fd() uintptr }); ok {
		if _, isConn := x.(syscall.Conn); !isConn {
			return func() (int, error) { return unix.IoctlGetInt(int(f.Fd()), unix.TIOCINQ) }
		}
	}
	sc, ok := x.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func() (int, error) {
		var n int
		var ierr error
		if err := raw.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }); err != nil {
			return 0, err
		}
		return n, ierr
	}
}
