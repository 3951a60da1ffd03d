//go:build linux

package main

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/mdlayher/vsock"

	"github.com/winctr/winctr/internal/uvm"
)

// dialOutTimeout bounds how long the agent tries to reach a host that
// does not listen yet; the host listens before it starts the VM.
const dialOutTimeout = 2 * time.Minute

// dialOutRetry is the pause between two attempts.
const dialOutRetry = 20 * time.Millisecond

// dialHost connects to the host's listener on the agent's vsock port: on
// Hyper-V, hvsocket's service of that port on the VM's host.
func dialHost() (net.Conn, error) {
	return vsock.Dial(vsock.Host, uvm.VsockPort, nil)
}

// serveDialOut is the agent's mode on Hyper-V: it connects to the host
// (dial, retried for up to timeout) and serves the host's yamux session on
// that one connection, as on a virtio-serial port, until the session
// ends. The VM does not outlive its shim there, so the end is final.
func serveDialOut(svc *service, dial func() (net.Conn, error), timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var conn net.Conn
	for {
		var err error
		if conn, err = dial(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dial the host on vsock port %d: %w", uvm.VsockPort, err)
		}
		time.Sleep(dialOutRetry)
	}
	defer conn.Close()
	cfg := uvm.YamuxConfig()
	cfg.LogOutput = guestLogWriter{}
	session, err := yamux.Server(conn, cfg)
	if err != nil {
		return err
	}
	defer session.Close()
	logf("serving the host on vsock port %d (dialled out)", uvm.VsockPort)
	return serve(svc, session.Accept)
}
