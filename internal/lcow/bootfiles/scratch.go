package bootfiles

import (
	"fmt"
	"os"
	"os/exec"
)

// ScratchFile is the scratch template of containerd's windows-lcow
// snapshotter, in its root: every LCOW container's sandbox.vhdx is a copy.
// Without it the snapshotter runs hcsshim's runhcs.exe to make one, which
// a winctr host does not have.
const ScratchFile = "scratch.vhdx"

// DefaultScratchGB is the size of the scratch disk, as the snapshotter
// makes it by default.
const DefaultScratchGB = 20

// Scratch writes the scratch template to out: a dynamic VHDX (1 MB
// blocks, so an empty disk costs a few MB) of sizeGB whose disk is one
// ext4 file system, no partition table, as the guest agent mounts a
// container's scratch. It needs mkfs.ext4 (e2fsprogs) and qemu-img
// (qemu-utils).
func Scratch(out string, sizeGB int) error {
	raw := out + ".tmp.raw"
	defer os.Remove(raw)
	f, err := os.Create(raw)
	if err != nil {
		return err
	}
	err = f.Truncate(int64(sizeGB) << 30)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	tmp := out + ".tmp.vhdx"
	defer os.Remove(tmp)
	for _, cmd := range [][]string{
		{"mkfs.ext4", "-q", "-F", raw},
		{"qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", "subformat=dynamic,block_size=1M", raw, tmp},
	} {
		if b, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", cmd[0], err, b)
		}
	}
	return os.Rename(tmp, out)
}
