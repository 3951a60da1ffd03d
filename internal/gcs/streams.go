//go:build linux

package gcs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/winctr/winctr/internal/splice"
)

// Router sorts the streams the host opens by their header line: API
// streams go to the ttrpc server, stdio streams wait for their process.
type Router struct {
	logs    func(net.Conn)
	api     chan net.Conn
	closed  chan struct{}
	once    sync.Once
	mu      sync.Mutex
	pending map[string]net.Conn // "<key> <fd>" -> stream
	arrived *sync.Cond
}

// NewRouter returns a router whose "logs" streams go to logs.
func NewRouter(logs func(net.Conn)) *Router {
	r := &Router{logs: logs, api: make(chan net.Conn), closed: make(chan struct{}), pending: map[string]net.Conn{}}
	r.arrived = sync.NewCond(&r.mu)
	return r
}

// bufferedConn keeps the bytes read past the header.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// CloseWrite passes the stream's half-close on, which the wrapper would
// otherwise hide.
func (c bufferedConn) CloseWrite() error { return splice.CloseWrite(c.Conn) }

// Route reads a stream's header and hands the stream on.
func (r *Router) Route(c net.Conn) {
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := br.ReadString('\n')
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	conn := bufferedConn{Conn: c, r: br}
	h, ok := parseHeader(line)
	switch {
	case !ok:
		c.Close()
	case h.kind == "api":
		select {
		case r.api <- conn:
		case <-r.closed:
			c.Close()
		}
	case h.kind == "logs":
		if r.logs != nil {
			r.logs(conn)
		} else {
			c.Close()
		}
	case h.kind == "port":
		go forwardPort(conn, h.port)
	case h.kind == "stdio":
		k := h.key + " " + strconv.Itoa(h.fd)
		r.mu.Lock()
		if old, ok := r.pending[k]; ok {
			old.Close()
		}
		r.pending[k] = conn
		r.arrived.Broadcast()
		r.mu.Unlock()
	}
}

// header is a stream's first line: "api", "logs", "stdio <key> <fd>" or
// "port <number>".
type header struct {
	kind string
	key  string
	fd   int
	port uint16
}

// parseHeader reads a stream's header line; ok is false for anything
// else, for a stdio fd other than 0, 1 or 2, and for a port outside
// 1-65535.
func parseHeader(line string) (header, bool) {
	fields := strings.Fields(line)
	switch {
	case len(fields) == 1 && (fields[0] == "api" || fields[0] == "logs"):
		return header{kind: fields[0]}, true
	case len(fields) == 3 && fields[0] == "stdio":
		fd, err := strconv.Atoi(fields[2])
		if err != nil || fd < 0 || fd > 2 {
			return header{}, false
		}
		return header{kind: "stdio", key: fields[1], fd: fd}, true
	case len(fields) == 2 && fields[0] == "port":
		port, err := strconv.ParseUint(fields[1], 10, 16)
		if err != nil || port == 0 {
			return header{}, false
		}
		return header{kind: "port", port: uint16(port)}, true
	}
	return header{}, false
}

// take waits for the stdio stream fd of key.
func (r *Router) take(ctx context.Context, key string, fd int) (net.Conn, error) {
	k := key + " " + strconv.Itoa(fd)
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.arrived.Broadcast()
		r.mu.Unlock()
	})
	defer stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if c, ok := r.pending[k]; ok {
			delete(r.pending, k)
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("stdio stream %d of %s never came: %w", fd, key, ctx.Err())
		}
		r.arrived.Wait()
	}
}

// Accept makes the router the ttrpc server's listener of API streams.
func (r *Router) Accept() (net.Conn, error) {
	select {
	case c := <-r.api:
		return c, nil
	case <-r.closed:
		return nil, io.EOF
	}
}

// Close stops handing out API streams.
func (r *Router) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}

// Addr is required by net.Listener.
func (r *Router) Addr() net.Addr { return routerAddr{} }

type routerAddr struct{}

func (routerAddr) Network() string { return "yamux" }
func (routerAddr) String() string  { return "agent" }
