package bootfiles

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os/exec"
	"testing"
)

// LZ4's shortest match.
const lz4MinMatch = 4

// unlz4 decodes a legacy LZ4 frame as the kernel does: each block on its
// own, no larger than 8 MB.
func unlz4(t *testing.T, frame []byte) []byte {
	t.Helper()
	if len(frame) < 4 || binary.LittleEndian.Uint32(frame) != lz4LegacyMagic {
		t.Fatal("no legacy LZ4 magic")
	}
	frame = frame[4:]
	var out []byte
	for len(frame) > 0 {
		size := int(binary.LittleEndian.Uint32(frame))
		block := frame[4 : 4+size]
		frame = frame[4+size:]
		start := len(out)
		for i := 0; i < len(block); {
			token := block[i]
			i++
			length := func(v int) int {
				if v == 15 {
					for {
						b := block[i]
						i++
						v += int(b)
						if b != 255 {
							break
						}
					}
				}
				return v
			}
			lit := length(int(token >> 4))
			out = append(out, block[i:i+lit]...)
			i += lit
			if i == len(block) {
				break
			}
			offset := int(block[i]) | int(block[i+1])<<8
			i += 2
			n := length(int(token&15)) + lz4MinMatch
			if offset == 0 || len(out)-offset < start {
				t.Fatalf("bad offset %d", offset)
			}
			for k := 0; k < n; k++ {
				out = append(out, out[len(out)-offset])
			}
		}
		if len(out)-start > lz4BlockSize {
			t.Fatalf("block of %d bytes", len(out)-start)
		}
	}
	return out
}

func TestLZ4RoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	random := make([]byte, 300_000)
	rng.Read(random)
	var mixed []byte
	for len(mixed) < lz4BlockSize+5_000_000 {
		// Text-like runs, repeats at every distance, and noise.
		mixed = append(mixed, fmt.Sprintf("line %d of something that repeats\n", rng.Intn(500))...)
		if rng.Intn(8) == 0 {
			mixed = append(mixed, random[:rng.Intn(300)]...)
		}
		if rng.Intn(50) == 0 {
			mixed = append(mixed, bytes.Repeat([]byte{0}, rng.Intn(5000))...)
		}
	}
	for name, in := range map[string][]byte{
		"empty": {}, "one byte": {7}, "short": []byte("abcdabcdabcd"), "just past the limit": []byte("abcdabcdabcdabcdabcd"),
		"zeros": make([]byte, 100_000), "random": random, "two blocks and a bit": mixed,
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			z, err := newLZ4Writer(&buf)
			if err != nil {
				t.Fatal(err)
			}
			// Odd write sizes, across block boundaries.
			for rest := in; len(rest) > 0; {
				k := min(len(rest), 1+rng.Intn(3_000_000))
				if _, err := z.Write(rest[:k]); err != nil {
					t.Fatal(err)
				}
				rest = rest[k:]
			}
			if err := z.Close(); err != nil {
				t.Fatal(err)
			}
			if out := unlz4(t, buf.Bytes()); !bytes.Equal(out, in) {
				t.Fatalf("round trip of %d bytes gave %d bytes, not the same", len(in), len(out))
			}
			// The reference decoder, where installed, must agree.
			if lz4, err := exec.LookPath("lz4"); err == nil && len(in) > 0 {
				cmd := exec.Command(lz4, "-dc")
				cmd.Stdin = &buf
				out, err := cmd.Output()
				if err != nil || !bytes.Equal(out, in) {
					t.Fatalf("lz4 -dc: %v (%d bytes out of %d)", err, len(out), len(in))
				}
			}
		})
	}
}
