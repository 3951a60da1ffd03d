package bootfiles

import (
	"io"

	"github.com/pierrec/lz4/v4"
)

// LZ4's legacy frame is the one LZ4 format the kernel unpacks an initrd
// from (RD_LZ4): a magic number, then blocks of up to 8 MB of input, each
// its compressed size and an LZ4 block.
const lz4BlockSize = 8 << 20

// lz4LegacyMagic starts a legacy frame (little-endian).
const lz4LegacyMagic = 0x184C2102

// newLZ4Writer compresses what is written to it into a legacy LZ4 frame.
func newLZ4Writer(w io.Writer) (io.WriteCloser, error) {
	zw := lz4.NewWriter(w)
	if err := zw.Apply(lz4.LegacyOption(true)); err != nil {
		return nil, err
	}
	return zw, nil
}
