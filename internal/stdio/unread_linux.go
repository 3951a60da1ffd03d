package stdio

import (
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// fifoUnread returns a function that reads how many bytes wait in the
// FIFO behind w for its reader (TIOCINQ, FIONREAD's Linux name), or nil
// where w cannot tell.
func fifoUnread(w io.Writer) func() (int, error) {
	sc, ok := w.(syscall.Conn)
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
