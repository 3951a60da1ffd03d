package uvm

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// ErrVMExited is returned when the VM stopped before its agent connected.
var ErrVMExited = errors.New("the utility VM exited before its guest agent connected")

// AcceptSession waits on ln, where the host listened before the VM
// started, for the guest agent's connection (a Hyper-V guest dials out
// over hvsocket), and starts the host side of yamux on it: the same
// session as over a virtio-serial port. It gives up when ctx ends or the
// VM exits (exited closed; nil for never), and closes ln either way.
func AcceptSession(ctx context.Context, ln net.Listener, exited <-chan struct{}) (*Session, error) {
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	var a accepted
	select {
	case a = <-ch:
		ln.Close()
	case <-ctx.Done():
		ln.Close()
		if a = <-ch; a.err != nil {
			return nil, fmt.Errorf("guest agent did not connect: %w", ctx.Err())
		}
	case <-exited:
		ln.Close()
		if a = <-ch; a.err != nil {
			return nil, ErrVMExited
		}
	}
	if a.err != nil {
		return nil, fmt.Errorf("accept the guest agent's connection: %w", a.err)
	}
	s, err := NewSession(a.c)
	if err != nil {
		a.c.Close()
		return nil, err
	}
	return s, nil
}
