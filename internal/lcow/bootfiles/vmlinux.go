package bootfiles

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
)

// The x86 boot protocol's setup header, at fixed offsets of a bzImage.
const (
	setupSectsOffset    = 0x1f1
	headerMagicOffset   = 0x202
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
