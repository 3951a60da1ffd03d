package shimdebug

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Session is one request's streams, as a Handler sees them.
type Session struct {
	// Stdin is the client's input (EOF when it closes its input);
	// Stdout and Stderr go to the client.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Resize receives the client's terminal sizes; closed when the
	// client's connection ends. Sizes and Stdin come from one reader in
	// the client's order, so a handler that waits for a size must keep
	// reading Stdin meanwhile.
	Resize <-chan Size
}

// Size is a terminal's size.
type Size struct{ Cols, Rows uint32 }

// Handler serves one request and returns the exit status to report.
type Handler func(ctx context.Context, req Request, s *Session) (int, error)

// Listen makes the debug socket of this process under dir, readable by
// root alone.
func Listen(dir string) (net.Listener, string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	path := SocketPath(dir, os.Getpid())
	_ = os.Remove(path) // a dead process's of the same pid
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, "", err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, "", err
	}
	return ln, path, nil
}

// Serve answers connections on ln with h until ln is closed.
func Serve(ctx context.Context, ln net.Listener, h Handler) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go serveConn(ctx, c, h)
	}
}

// lockedWriter keeps frames whole when several goroutines write them.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) frame(typ byte, b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return writeFrame(l.w, typ, b)
}

func serveConn(ctx context.Context, c net.Conn, h Handler) {
	defer c.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	br := bufio.NewReader(c)
	out := &lockedWriter{w: c}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		_ = out.frame(FrameError, []byte(fmt.Sprintf("malformed request: %v", err)))
		return
	}
	stdinR, stdinW := io.Pipe()
	// Unblocks the frame reader if the handler stops reading stdin.
	defer stdinR.Close()
	resize := make(chan Size, 4)
	go func() {
		defer close(resize)
		defer cancel() // the client went away: stop what it asked for
		for {
			typ, b, err := readFrame(br)
			if err != nil {
				stdinW.CloseWithError(io.EOF)
				return
			}
			switch typ {
			case FrameStdin:
				if _, err := stdinW.Write(b); err != nil {
					// Nobody reads stdin any more; keep draining frames.
					continue
				}
			case FrameStdinClose:
				stdinW.Close()
			case FrameResize:
				if cols, rows, err := parseResize(b); err == nil {
					select {
					case resize <- Size{cols, rows}:
					default:
					}
				}
			}
		}
	}()
	s := &Session{Stdin: stdinR, Stdout: frameWriter{out, FrameStdout}, Stderr: frameWriter{out, FrameStderr}, Resize: resize}
	status, err := h(ctx, req, s)
	if err != nil {
		_ = out.frame(FrameError, []byte(err.Error()))
		return
	}
	_ = out.frame(FrameExit, []byte(strconv.Itoa(status)))
}

// RemoveStale removes the sockets under dir of processes that are gone,
// or that no longer run the executable self: a shim killed with SIGKILL
// could not remove its own.
func RemoveStale(dir, self string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, ok := strings.CutSuffix(e.Name(), ".sock")
		if !ok {
			continue
		}
		if _, err := strconv.Atoi(pid); err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", pid, "exe")); err == nil && strings.TrimSuffix(exe, " (deleted)") == self {
			continue
		}
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
}
