// Package shimdebug is the shim's debug socket: how the winctr command
// asks a running shim for its goroutines, its guest agent's, or a shell
// in its utility VM. Only root reaches the socket (its directory is
// 0700), and the shim serves a shell only where the runtime's options
// allow it.
//
// The client writes one JSON Request line; then both sides send frames: a
// type byte, a big-endian uint32 length and that many bytes. The shim
// sends output (FrameStdout, FrameStderr) and ends with FrameExit or
// FrameError; the client may send input (FrameStdin, FrameStdinClose,
// FrameResize).
package shimdebug

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
)

// Dir holds the debug sockets of a host's shims, each named by the
// shim's pid: a bundle's path is too long for a socket's.
const Dir = "/run/containerd/winctr/debug"

// SocketPath is the debug socket of the shim with that pid under dir.
func SocketPath(dir string, pid int) string {
	return filepath.Join(dir, strconv.Itoa(pid)+".sock")
}

// Operations a client may ask for.
const (
	OpStacks      = "stacks"       // the shim's goroutines
	OpAgentStacks = "agent-stacks" // the guest agent's goroutines
	OpShell       = "shell"        // a program in the guest, outside the containers
)

// Request is the first line a client sends.
type Request struct {
	Op string `json:"op"`
	// Args is the program to run for OpShell; empty for an interactive
	// shell.
	Args []string `json:"args,omitempty"`
	// Terminal gives the program a terminal of Cols x Rows.
	Terminal bool   `json:"terminal,omitempty"`
	Cols     uint32 `json:"cols,omitempty"`
	Rows     uint32 `json:"rows,omitempty"`
}

// Frame types.
const (
	FrameStdout     byte = 'o'
	FrameStderr     byte = 'e'
	FrameExit       byte = 'x' // payload: the exit status in decimal
	FrameError      byte = 'E' // payload: why the request failed
	FrameStdin      byte = 'i'
	FrameStdinClose byte = 'c'
	FrameResize     byte = 'r' // payload: cols and rows, uint32 each
)

// maxFrame bounds a frame's payload: larger ones are a broken peer.
const maxFrame = 1 << 20

// writeFrame sends one frame.
func writeFrame(w io.Writer, typ byte, payload []byte) error {
	if len(payload) > maxFrame {
		return fmt.Errorf("frame of %d bytes is larger than %d", len(payload), maxFrame)
	}
	hdr := make([]byte, 5, 5+len(payload))
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	_, err := w.Write(append(hdr, payload...))
	return err
}

// readFrame reads one frame.
func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes is larger than %d", n, maxFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, fmt.Errorf("truncated frame: %w", err)
	}
	return hdr[0], b, nil
}

// frameWriter turns writes into frames of one type.
type frameWriter struct {
	w   *lockedWriter
	typ byte
}

func (f frameWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n := min(len(b), maxFrame)
		if err := f.w.frame(f.typ, b[:n]); err != nil {
			return written, err
		}
		written += n
		b = b[n:]
	}
	return written, nil
}

func resizePayload(cols, rows uint32) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, cols)
	binary.BigEndian.PutUint32(b[4:], rows)
	return b
}

func parseResize(b []byte) (uint32, uint32, error) {
	if len(b) != 8 {
		return 0, 0, errors.New("resize frame of the wrong size")
	}
	return binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), nil
}
