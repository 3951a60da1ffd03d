// Package splice carries bytes both ways between two connections, as a
// TCP proxy does: port-forwarding to a VM pod joins a connection in the
// pod's network namespace on the host to a stream to the guest agent
// there, and the stream to a connection on the guest's loopback here.
package splice

import (
	"errors"
	"io"
	"net"
)

// CloseWrite ends c's sending half: with c's own CloseWrite where it has
// one (TCP, AF_VSOCK, wrappers passing it on), else with Close, which for
// a yamux stream ends only its sending half too and for anything else
// the whole connection.
func CloseWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// Conns copies a to b and b to a until both directions have ended, then
// closes both. When one side stops sending, the other side's sending half
// is closed, so that a peer waiting for the end of a request still gets
// it; a connection without a half-close is closed whole. A failed copy
// (a reset, a closed connection) ends both directions at once. It
// returns the first error that was not an orderly end.
func Conns(a, b net.Conn) error {
	errs := make(chan error, 2)
	copyHalf := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if err != nil {
			// The other direction would wait on a peer that may
			// never speak again.
			a.Close()
			b.Close()
		} else {
			err = CloseWrite(dst)
		}
		errs <- err
	}
	go copyHalf(b, a)
	go copyHalf(a, b)
	var err error
	for range 2 {
		if e := <-errs; err == nil && !closedHere(e) {
			err = e
		}
	}
	a.Close()
	b.Close()
	return err
}

// closedHere tells an error of a connection this side closed, which
// ends a copy as an orderly end would.
func closedHere(err error) bool {
	return err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}
