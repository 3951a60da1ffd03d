//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/mdlayher/vsock"
	"golang.org/x/sys/unix"
)

// Mount sources that name where the host attached something rather than a
// guest device or path (see MountRequest in the agent API).
const (
	// scsiSource is scsi:<controller VMBus id>/<lun>: a disk the host
	// attached to a SCSI controller.
	scsiSource = "scsi:"
	// vsockSource is vsock:<port>/<share>: a 9p share the host serves on
	// its vsock port.
	vsockSource = "vsock:"
)

// sysRoot is where sysfs is; tests point it at a fake tree.
var sysRoot = "/sys"

// deviceWait bounds the wait for a hot-added disk to show up.
const deviceWait = 10 * time.Second

// scsiDevice resolves scsi:<controller>/<lun> to the disk's /dev path,
// waiting for the kernel to find a disk the host has just attached.
func scsiDevice(source string, wait time.Duration) (string, error) {
	controller, lun, err := parseSCSISource(source)
	if err != nil {
		return "", err
	}
	deadline := time.Now().Add(wait)
	for {
		dev, err := findSCSIDisk(controller, lun)
		if err == nil {
			return dev, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("disk at LUN %d of SCSI controller %s: %w", lun, controller, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parseSCSISource splits scsi:<controller>/<lun>; the controller id must
// be a plain name, since it becomes a sysfs path.
func parseSCSISource(source string) (string, uint64, error) {
	rest := strings.TrimPrefix(source, scsiSource)
	controller, lunStr, ok := strings.Cut(rest, "/")
	lun, err := strconv.ParseUint(lunStr, 10, 8)
	if !ok || err != nil || controller == "" || strings.ContainsAny(controller, "/.") {
		return "", 0, fmt.Errorf("mount source %q: want scsi:<controller id>/<lun>: %w", source, errdefs.ErrInvalidArgument)
	}
	return controller, lun, nil
}

// findSCSIDisk looks the disk up in sysfs: the controller's VMBus device
// holds host<N>, the SCSI host number inside this guest, and the disk at
// <N>:0:0:<lun> lists its block device.
func findSCSIDisk(controller string, lun uint64) (string, error) {
	entries, err := os.ReadDir(filepath.Join(sysRoot, "bus", "vmbus", "devices", controller))
	if err != nil {
		return "", err
	}
	host := -1
	for _, e := range entries {
		if n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "host")); err == nil && strings.HasPrefix(e.Name(), "host") {
			host = n
			break
		}
	}
	if host < 0 {
		return "", fmt.Errorf("controller %s has no SCSI host yet", controller)
	}
	id := fmt.Sprintf("%d:0:0:%d", host, lun)
	blocks, err := os.ReadDir(filepath.Join(sysRoot, "bus", "scsi", "devices", id, "block"))
	if err != nil {
		return "", err
	}
	if len(blocks) != 1 {
		return "", fmt.Errorf("SCSI device %s has %d block devices", id, len(blocks))
	}
	return "/dev/" + blocks[0].Name(), nil
}

// p9MsgSize is the 9p message size: large reads and writes over hvsocket.
const p9MsgSize = 512 << 10

// mount9p mounts the 9p share that the host serves on its vsock port
// (vsock:<port>/<share>) on target, over one connection handed to the
// kernel (trans=fd).
func mount9p(source, target string, flags uintptr) error {
	port, share, err := parse9pSource(source)
	if err != nil {
		return err
	}
	conn, err := vsock.Dial(vsock.Host, port, nil)
	if err != nil {
		return fmt.Errorf("connect to the host's 9p server on vsock port %d: %w", port, err)
	}
	defer conn.Close()
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var mountErr error
	if err := raw.Control(func(fd uintptr) {
		// The kernel reads and writes the socket itself: it gets a
		// blocking copy of it, which it keeps for the mount's life.
		nfd, err := unix.Dup(int(fd))
		if err != nil {
			mountErr = err
			return
		}
		defer unix.Close(nfd)
		if err := unix.SetNonblock(nfd, false); err != nil {
			mountErr = err
			return
		}
		data := fmt.Sprintf("trans=fd,rfdno=%d,wfdno=%d,msize=%d,aname=%s", nfd, nfd, p9MsgSize, share)
		mountErr = unix.Mount(target, target, "9p", flags, data)
	}); err != nil {
		return err
	}
	if mountErr != nil {
		return fmt.Errorf("mount 9p share %s on %s: %w", share, target, mountErr)
	}
	return nil
}

// parse9pSource splits vsock:<port>/<share>; the share name goes into the
// mount's data, so it may not carry options of its own.
func parse9pSource(source string) (uint32, string, error) {
	rest := strings.TrimPrefix(source, vsockSource)
	portStr, share, ok := strings.Cut(rest, "/")
	port, err := strconv.ParseUint(portStr, 10, 32)
	if !ok || err != nil || share == "" || strings.ContainsAny(share, ",=") {
		return 0, "", fmt.Errorf("mount source %q: want vsock:<port>/<share>: %w", source, errdefs.ErrInvalidArgument)
	}
	return uint32(port), share, nil
}

// overlayDirs creates an overlay's upper and work directories, which live
// on a scratch disk mounted just before; every directory an overlay names
// must lie under mountRoot.
func overlayDirs(opts []string) error {
	for _, o := range opts {
		key, val, ok := strings.Cut(o, "=")
		if !ok {
			continue
		}
		switch key {
		case "lowerdir":
			for _, d := range strings.Split(val, ":") {
				if _, err := guestTarget(d); err != nil {
					return err
				}
			}
		case "upperdir", "workdir":
			d, err := guestTarget(val)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}
