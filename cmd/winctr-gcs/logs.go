//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// backlogLines bounds the lines kept for a log stream that has not come yet.
const backlogLines = 512

// logHub carries the agent's log lines to the host's "logs" streams. Lines
// written before any stream came are kept (boot is when things go wrong)
// and go to the serial console too, the one channel a guest that never
// reaches the host still has.
type logHub struct {
	mu      sync.Mutex
	backlog [][]byte
	subs    map[net.Conn]struct{}
	console io.Writer
}

var guestLog = &logHub{subs: map[net.Conn]struct{}{}, console: os.Stderr}

// logf writes one line of the agent's log.
func logf(format string, args ...any) {
	line := fmt.Sprintf("%s winctr-gcs: %s\n", time.Now().UTC().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
	guestLog.write([]byte(line))
}

func (h *logHub) write(line []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.backlog = append(h.backlog, line)
	if len(h.backlog) > backlogLines {
		h.backlog = h.backlog[len(h.backlog)-backlogLines:]
	}
	if len(h.subs) == 0 {
		_, _ = h.console.Write(line)
		return
	}
	for c := range h.subs {
		if !send(c, line) {
			delete(h.subs, c)
			c.Close()
		}
	}
}

// attach sends the backlog to a new log stream, then every new line.
func (h *logHub) attach(c net.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, line := range h.backlog {
		if !send(c, line) {
			c.Close()
			return
		}
	}
	h.subs[c] = struct{}{}
}

// send writes a line with a bound, so that a host that stopped reading
// loses its log stream rather than stalling the agent.
func send(c net.Conn, line []byte) bool {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := c.Write(line)
	return err == nil
}

// guestLogWriter lets libraries that log through an io.Writer (yamux)
// write into the agent's log.
type guestLogWriter struct{}

func (guestLogWriter) Write(b []byte) (int, error) {
	logf("%s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
