//go:build linux

package qemu

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"time"
	"unsafe"

	"github.com/mdlayher/vsock"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/uvm"
)

// VhostVsock is the host's vhost-vsock device; where it can be opened,
// VMs get a vsock device and the agent channel runs over AF_VSOCK.
var VhostVsock = "/dev/vhost-vsock"

// vhostVsockSetGuestCID is the VHOST_VSOCK_SET_GUEST_CID ioctl,
// _IOW(VHOST_VIRTIO, 0x60, __u64).
const vhostVsockSetGuestCID = 0x4008af60

// Guest CIDs 0-2 are reserved (hypervisor, local, host).
const (
	firstCID = 3
	cidSpan  = 1 << 30
)

// vsockUsable tells whether this host can give VMs a vsock device.
func vsockUsable() bool {
	f, err := os.OpenFile(VhostVsock, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// openVsock opens the vhost-vsock device and claims on it a guest CID no
// other VM of the host holds. QEMU gets the open device (vhostfd), so the
// claim is the VM's for as long as it runs, with no race between choosing
// a CID and QEMU taking it.
func openVsock() (*os.File, uint32, error) {
	f, err := os.OpenFile(VhostVsock, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", VhostVsock, err)
	}
	cid, err := claimCID(func(cid uint32) error {
		v := uint64(cid)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), vhostVsockSetGuestCID, uintptr(unsafe.Pointer(&v))); errno != 0 {
			return errno
		}
		return nil
	}, rand.Uint32N(cidSpan))
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, cid, nil
}

// claimCID tries CIDs from start on until set takes one; only a CID in use
// makes it try the next.
func claimCID(set func(uint32) error, start uint32) (uint32, error) {
	const tries = 1024
	for i := uint32(0); i < tries; i++ {
		cid := firstCID + (start+i)%cidSpan
		err := set(cid)
		if err == nil {
			return cid, nil
		}
		if !errors.Is(err, unix.EADDRINUSE) {
			return 0, fmt.Errorf("claim vsock CID %d: %w", cid, err)
		}
	}
	return 0, fmt.Errorf("no free vsock CID in %d tries", tries)
}

// vsockDialer connects to the agent of the guest with cid. Until the agent
// listens (the guest is booting) connections are refused or reset; it
// tries again until the VM exits or the boot bound passes.
func vsockDialer(cid uint32, exited <-chan struct{}, bound time.Duration) func() (net.Conn, error) {
	return func() (net.Conn, error) {
		deadline := time.Now().Add(bound)
		for {
			c, err := vsock.Dial(cid, uvm.VsockPort, nil)
			if err == nil {
				return c, nil
			}
			if !errors.Is(err, unix.ECONNRESET) && !errors.Is(err, unix.ECONNREFUSED) && !errors.Is(err, unix.ETIMEDOUT) {
				return nil, err
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("guest agent on vsock CID %d: %w", cid, err)
			}
			select {
			case <-exited:
				return nil, fmt.Errorf("VM exited before its agent listened on vsock: %w", err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}
