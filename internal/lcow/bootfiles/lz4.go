package bootfiles

import (
	"encoding/binary"
	"io"
)

// LZ4's legacy frame, the one format of LZ4 that the kernel unpacks an
// initrd from (RD_LZ4): a magic number, then blocks of up to 8 MB of
// input, each its compressed size (little-endian) and an LZ4 block.
const (
	lz4LegacyMagic = 0x184C2102
	lz4BlockSize   = 8 << 20
)

// lz4Writer compresses what is written to it into a legacy LZ4 frame.
type lz4Writer struct {
	w     io.Writer
	buf   []byte
	out   []byte
	table []int32
	err   error
}

func newLZ4Writer(w io.Writer) *lz4Writer {
	z := &lz4Writer{w: w, buf: make([]byte, 0, lz4BlockSize), table: make([]int32, 1<<lz4HashLog)}
	var magic [4]byte
	binary.LittleEndian.PutUint32(magic[:], lz4LegacyMagic)
	_, z.err = w.Write(magic[:])
	return z
}

func (z *lz4Writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 && z.err == nil {
		k := min(len(p), lz4BlockSize-len(z.buf))
		z.buf = append(z.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(z.buf) == lz4BlockSize {
			z.flush()
		}
	}
	return n, z.err
}

// Close writes the last, partial block.
func (z *lz4Writer) Close() error {
	if len(z.buf) > 0 {
		z.flush()
	}
	return z.err
}

func (z *lz4Writer) flush() {
	if z.err != nil {
		return
	}
	z.out = lz4Block(z.out[:0], z.buf, z.table)
	var size [4]byte
	binary.LittleEndian.PutUint32(size[:], uint32(len(z.out)))
	if _, z.err = z.w.Write(size[:]); z.err == nil {
		_, z.err = z.w.Write(z.out)
	}
	z.buf = z.buf[:0]
}

const (
	lz4HashLog   = 16
	lz4MinMatch  = 4
	lz4MaxOffset = 65535
	// The format's end rules: the last match starts 12 bytes or more
	// before the block's end, and the last 5 bytes are literals.
	lz4MFLimit      = 12
	lz4LastLiterals = 5
)

// lz4Block appends src compressed as one LZ4 block to dst: a greedy
// match finder over a hash table of 4-byte sequences (table is scratch
// space of 1<<lz4HashLog entries).
func lz4Block(dst, src []byte, table []int32) []byte {
	clear(table)
	anchor, i := 0, 0
	if len(src) > lz4MFLimit {
		matchLimit := len(src) - lz4LastLiterals
		for i < len(src)-lz4MFLimit {
			seq := binary.LittleEndian.Uint32(src[i:])
			h := (seq * 2654435761) >> (32 - lz4HashLog)
			ref := int(table[h]) - 1 // table holds positions + 1
			table[h] = int32(i + 1)
			if ref < 0 || i-ref > lz4MaxOffset || binary.LittleEndian.Uint32(src[ref:]) != seq {
				i++
				continue
			}
			n := lz4MinMatch
			for i+n < matchLimit && src[ref+n] == src[i+n] {
				n++
			}
			dst = lz4Sequence(dst, src[anchor:i], i-ref, n)
			i += n
			anchor = i
		}
	}
	return lz4Sequence(dst, src[anchor:], 0, 0)
}

// lz4Sequence appends one sequence: literals, then a match of n bytes at
// offset back (none in the block's last sequence, where n is 0).
func lz4Sequence(dst, literals []byte, offset, n int) []byte {
	lit := len(literals)
	token := byte(min(lit, 15)) << 4
	if n > 0 {
		token |= byte(min(n-lz4MinMatch, 15))
	}
	dst = append(dst, token)
	if lit >= 15 {
		dst = lz4Length(dst, lit-15)
	}
	dst = append(dst, literals...)
	if n == 0 {
		return dst
	}
	dst = append(dst, byte(offset), byte(offset>>8))
	if n-lz4MinMatch >= 15 {
		dst = lz4Length(dst, n-lz4MinMatch-15)
	}
	return dst
}

// lz4Length appends the rest of a length past its token's 15.
func lz4Length(dst []byte, v int) []byte {
	for ; v >= 255; v -= 255 {
		dst = append(dst, 255)
	}
	return append(dst, byte(v))
}
