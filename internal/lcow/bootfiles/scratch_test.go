package bootfiles

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestScratchIsAnExt4VHDX builds the windows-lcow snapshotter's scratch
// template and reads it back: a dynamic VHDX with 1 MB blocks whose disk
// is one ext4 file system, no partition table, as the guest agent mounts
// a container's scratch.
func TestScratchIsAnExt4VHDX(t *testing.T) {
	for _, tool := range []string{"mkfs.ext4", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (e2fsprogs, qemu-utils)", tool)
		}
	}
	dir := t.TempDir()
	out := filepath.Join(dir, ScratchFile)
	if err := Scratch(out, 1); err != nil {
		t.Fatal(err)
	}
	info, err := exec.Command("qemu-img", "info", "--output=json", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	var img struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
		ClusterSize int64  `json:"cluster-size"`
	}
	if err := json.Unmarshal(info, &img); err != nil {
		t.Fatal(err)
	}
	if img.Format != "vhdx" || img.VirtualSize != 1<<30 || img.ClusterSize != 1<<20 {
		t.Errorf("image %+v, want a 1 GiB vhdx with 1 MiB blocks", img)
	}
	raw := filepath.Join(dir, "back.raw")
	if b, err := exec.Command("qemu-img", "convert", "-O", "raw", out, raw).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	magic := make([]byte, 2)
	if _, err := f.ReadAt(magic, 1024+0x38); err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint16(magic) != 0xEF53 {
		t.Errorf("no ext4 superblock at the disk's start: magic %x", magic)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp*")); len(leftovers) > 0 {
		t.Errorf("left behind %v", leftovers)
	}
}
