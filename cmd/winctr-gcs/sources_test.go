//go:build linux

package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

// fakeSCSI lays out the sysfs entries of a disk at lun on the controller
// whose SCSI host inside the guest is host.
func fakeSCSI(t *testing.T, root, controller string, host, lun int, dev string) {
	t.Helper()
	for _, d := range []string{
		filepath.Join(root, "bus/vmbus/devices", controller, "host"+itoa(host)),
		filepath.Join(root, "bus/scsi/devices", itoa(host)+":0:0:"+itoa(lun), "block", dev),
	} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestSCSIDevice(t *testing.T) {
	root := t.TempDir()
	old := sysRoot
	sysRoot = root
	t.Cleanup(func() { sysRoot = old })
	const ctrl = "721d67dd-0025-525d-b737-61e7efb9d605"
	// The controller is the guest's SCSI host 3, not 0: the lookup must go
	// through the VMBus id.
	fakeSCSI(t, root, ctrl, 3, 2, "sdc")
	fakeSCSI(t, root, "other-controller", 0, 2, "sda")

	for _, tc := range []struct {
		source, want string
		invalid      bool
	}{
		{"scsi:" + ctrl + "/2", "/dev/sdc", false},
		{"scsi:" + ctrl + "/5", "", false},
		{"scsi:" + ctrl, "", true},
		{"scsi:" + ctrl + "/x", "", true},
		{"scsi:../../etc/1", "", true},
		{"scsi:/1", "", true},
	} {
		got, err := scsiDevice(tc.source, 30*time.Millisecond)
		switch {
		case tc.invalid:
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("%s: got %q, %v; want an invalid-argument error", tc.source, got, err)
			}
		case tc.want == "":
			if err == nil {
				t.Errorf("%s: got %q for a disk that is not there", tc.source, got)
			}
		case got != tc.want || err != nil:
			t.Errorf("%s: got %q, %v; want %q", tc.source, got, err, tc.want)
		}
	}

	// A disk that shows up while the agent waits is found.
	go func() {
		time.Sleep(50 * time.Millisecond)
		fakeSCSI(t, root, ctrl, 3, 4, "sdd")
	}()
	if got, err := scsiDevice("scsi:"+ctrl+"/4", 5*time.Second); got != "/dev/sdd" || err != nil {
		t.Errorf("hot-added disk: got %q, %v", got, err)
	}
}

func TestMount9pRefusesBadSources(t *testing.T) {
	for _, src := range []string{"vsock:564", "vsock:x/share", "vsock:564/", "vsock:564/a,trans=tcp"} {
		if err := mount9p(src, "/run/winctr/x", 0); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: got %v, want an invalid-argument error", src, err)
		}
	}
}

func TestOverlayDirs(t *testing.T) {
	if err := overlayDirs([]string{"lowerdir=/run/winctr/l/1:/etc", "upperdir=/run/winctr/c/x/upper"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("lowerdir outside the agent's tree: %v", err)
	}
	if err := overlayDirs([]string{"workdir=/tmp/w"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("workdir outside the agent's tree: %v", err)
	}
}
