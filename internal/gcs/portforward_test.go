//go:build linux

package gcs

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/winctr/winctr/internal/echotest"
)

// The host's port stream reaches a server on the guest's loopback, both
// ways; a port nobody listens on is refused before any byte is carried,
// as ErrUnavailable with the guest's reason.
func TestPortStreams(t *testing.T) {
	g := newGuest(t)
	open := echotest.Listen(t)
	closed, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := uint16(closed.Addr().(*net.TCPAddr).Port)
	closed.Close()

	for _, tc := range []struct {
		name    string
		port    uint16
		wantErr error
	}{
		{"listening", open, nil},
		{"refused", closedPort, errdefs.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := g.session.OpenPort(tc.port)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("OpenPort(%d) = %v, want %v", tc.port, err, tc.wantErr)
			}
			if err != nil {
				if want := "port " + strconv.Itoa(int(tc.port)); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "refused") {
					t.Fatalf("error %q does not name %q and the refusal", err, want)
				}
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, "hello\n"); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "echo: hello\n" {
				t.Fatalf("read %q", got)
			}
		})
	}
}

// Stream headers naming no usable port are not served.
func TestParsePortHeader(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
		port uint16
	}{
		{"port 80\n", true, 80},
		{"port 65535\n", true, 65535},
		{"port 0\n", false, 0},
		{"port 65536\n", false, 0},
		{"port -1\n", false, 0},
		{"port http\n", false, 0},
		{"port\n", false, 0},
		{"port 80 81\n", false, 0},
	} {
		h, ok := parseHeader(tc.line)
		if ok != tc.ok || (ok && (h.kind != "port" || h.port != tc.port)) {
			t.Errorf("parseHeader(%q) = %+v, %v", tc.line, h, ok)
		}
	}
}
