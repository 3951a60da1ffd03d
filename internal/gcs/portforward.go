//go:build linux

package gcs

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/winctr/winctr/internal/splice"
)

// portDialTimeout bounds the connection to a port on the guest's
// loopback; a refused port answers at once.
const portDialTimeout = 10 * time.Second

// forwardPort serves a "port <number>" stream, the guest's half of
// port-forwarding to a VM pod: containerd's CRI connects to localhost:port
// in the pod's network namespace on the host, where the shim takes the
// connection (its pod network's loopback is redirected to it), but the
// pod's servers listen in the guest. It connects to the port here as CRI
// would there (IPv4 first, then IPv6), answers one line ("ok", or "error
// <reason>"), and then carries bytes both ways.
func forwardPort(stream net.Conn, port uint16) {
	defer stream.Close()
	ctx, cancel := context.WithTimeout(context.Background(), portDialTimeout)
	conn, err := dialLoopback(ctx, port)
	cancel()
	if err != nil {
		fmt.Fprintf(stream, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	if _, err := io.WriteString(stream, "ok\n"); err != nil {
		conn.Close()
		return
	}
	_ = splice.Conns(stream, conn)
}

// dialLoopback connects to port on the guest's loopback, as containerd's
// CRI dials "localhost:<port>" with tcp4 and then tcp6.
func dialLoopback(ctx context.Context, port uint16) (net.Conn, error) {
	var d net.Dialer
	p := strconv.Itoa(int(port))
	c, err4 := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", p))
	if err4 == nil {
		return c, nil
	}
	c, err6 := d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", p))
	if err6 == nil {
		return c, nil
	}
	return nil, fmt.Errorf("port %d in the guest: %w", port, err4)
}
