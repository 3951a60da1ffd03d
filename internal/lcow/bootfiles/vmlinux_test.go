package bootfiles

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/winctr/winctr/internal/bootmanifest"
)

// fakeBzImage lays out a bzImage as the kernel's build does: a boot
// sector and one setup sector with the setup header, then the
// protected-mode code, whose payload is the LZ4-compressed vmlinux with
// its size appended.
func fakeBzImage(t *testing.T, vmlinux []byte) []byte {
	t.Helper()
	var payload bytes.Buffer
	zw, err := newLZ4Writer(&payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(vmlinux); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	payload.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(vmlinux))))
	img := make([]byte, 2*512+64)
	img[0x1f1] = 1 // setup sectors
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint32(img[0x248:], 64) // payload offset in the protected-mode code
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(payload.Len()))
	return append(img, payload.Bytes()...)
}

func TestVmlinuxFromBzImage(t *testing.T) {
	elf := append([]byte("\x7fELF\x02\x01\x01"), bytes.Repeat([]byte("kernel text "), 1000)...)
	got, ok, err := vmlinux(fakeBzImage(t, elf))
	if err != nil || !ok {
		t.Fatalf("vmlinux: %v, %v", ok, err)
	}
	if !bytes.Equal(got, elf) {
		t.Errorf("got %d bytes, want the %d of the ELF image", len(got), len(elf))
	}
	// Not a bzImage, or a payload that does not unpack to an ELF image:
	// no vmlinux, and no error, since UEFI boots the kernel as it is.
	for name, img := range map[string][]byte{
		"not a bzImage": []byte("kernel"),
		"not an ELF":    fakeBzImage(t, []byte("just bytes")),
	} {
		if _, ok, err := vmlinux(img); ok || err != nil {
			t.Errorf("%s: %v, %v", name, ok, err)
		}
	}
}

func TestBuildWritesVmlinux(t *testing.T) {
	root := t.TempDir()
	const release = "6.1.0-1-cloud-amd64"
	elf := []byte("\x7fELF vmlinux")
	modDir := filepath.Join(root, "lib", "modules", release)
	for path, body := range map[string][]byte{
		filepath.Join(root, "boot", "vmlinuz-"+release): fakeBzImage(t, elf),
		filepath.Join(modDir, "modules.dep"):            []byte("kernel/overlay.ko:\n"),
		filepath.Join(modDir, "kernel/overlay.ko"):      []byte("overlay.ko"),
		filepath.Join(root, "agent"):                    []byte("agent"),
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(root, "out")
	if err := Build(Options{Root: root, Agent: filepath.Join(root, "agent"), Out: out, Modules: []string{"overlay"},
		HyperVModules: []string{"overlay"}, ConditionalModules: map[string][]string{}, Runtime: NoRuntime,
		Manifest: &bootmanifest.Manifest{AgentProtocol: 1}}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, bootmanifest.VmlinuxFile))
	if err != nil || !bytes.Equal(got, elf) {
		t.Fatalf("%s: %q, %v", bootmanifest.VmlinuxFile, got, err)
	}
}

func TestBzImageRelease(t *testing.T) {
	withVersion := func(at int, version string) []byte {
		img := fakeBzImage(t, []byte("\x7fELF"))
		binary.LittleEndian.PutUint16(img[kernelVersionOffset:], uint16(at-0x200))
		return append(img[:at:at], append([]byte(version), 0)...)
	}
	tests := []struct {
		name    string
		img     []byte
		want    string
		wantErr bool
	}{
		{"release and build", withVersion(0x240, "6.1.176-winctr (winctr@winctr) #1 SMP"), "6.1.176-winctr", false},
		{"release alone", withVersion(0x240, "6.1.0-57-cloud-amd64"), "6.1.0-57-cloud-amd64", false},
		{"no version pointer", fakeBzImage(t, []byte("\x7fELF")), "", true},
		{"empty version", withVersion(0x240, ""), "", true},
		{"not a bzImage", []byte("kernel"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bzImageRelease(tt.img)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %q, %v; want %q (error: %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
