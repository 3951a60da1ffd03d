package bootfiles

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pierrec/lz4/v4"
)

// The x86 boot protocol's setup header, at fixed offsets of a bzImage.
const (
	setupSectsOffset    = 0x1f1
	headerMagicOffset   = 0x202
	kernelVersionOffset = 0x20e
	payloadOffsetOffset = 0x248
	payloadLengthOffset = 0x24c
	headerEnd           = 0x250
)

// vmlinux unpacks the uncompressed kernel (an ELF image) from a bzImage,
// for Hyper-V's direct kernel boot. ok is false, with no error, when img
// is not a bzImage with an LZ4 payload that unpacks to an ELF image:
// UEFI boots such a kernel as it is, only more slowly.
func vmlinux(img []byte) (_ []byte, ok bool, _ error) {
	if len(img) < headerEnd || string(img[headerMagicOffset:headerMagicOffset+4]) != "HdrS" {
		return nil, false, nil
	}
	setup := int(img[setupSectsOffset])
	if setup == 0 {
		setup = 4 // what the boot protocol means by 0
	}
	start := (setup+1)*512 + int(binary.LittleEndian.Uint32(img[payloadOffsetOffset:]))
	end := start + int(binary.LittleEndian.Uint32(img[payloadLengthOffset:]))
	if start < 0 || end > len(img) || end-start < 8 {
		return nil, false, fmt.Errorf("bzImage payload %d-%d outside its %d bytes", start, end, len(img))
	}
	payload := img[start:end]
	// CONFIG_KERNEL_LZ4 (Debian's cloud kernel) packs it in a legacy
	// frame; other compressions are left to UEFI.
	if binary.LittleEndian.Uint32(payload) != lz4LegacyMagic {
		return nil, false, nil
	}
	// The build appends the unpacked size after the frame.
	size := binary.LittleEndian.Uint32(payload[len(payload)-4:])
	out, err := io.ReadAll(lz4.NewReader(bytes.NewReader(payload[:len(payload)-4])))
	if err != nil {
		return nil, false, fmt.Errorf("unpack the bzImage payload: %w", err)
	}
	if uint32(len(out)) != size || !bytes.HasPrefix(out, []byte("\x7fELF")) {
		return nil, false, nil
	}
	return out, true, nil
}

// KernelRelease reads a bzImage's release (what uname -r prints in its
// guest) from the version string its setup header points to.
func KernelRelease(kernel string) (string, error) {
	img, err := os.ReadFile(kernel)
	if err != nil {
		return "", err
	}
	return bzImageRelease(img)
}

func bzImageRelease(img []byte) (string, error) {
	if len(img) < headerEnd || string(img[headerMagicOffset:headerMagicOffset+4]) != "HdrS" {
		return "", errors.New("not a bzImage")
	}
	at := int(binary.LittleEndian.Uint16(img[kernelVersionOffset:])) + 0x200
	if at == 0x200 || at >= len(img) {
		return "", errors.New("bzImage without a version string")
	}
	version, _, _ := bytes.Cut(img[at:], []byte{0})
	release, _, _ := strings.Cut(string(version), " ")
	if release == "" {
		return "", errors.New("bzImage with an empty version string")
	}
	return release, nil
}
