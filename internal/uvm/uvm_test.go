package uvm

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
)

// TestSessionHeaders checks that each kind of stream announces itself with
// the header line the agent routes by, on both transports.
func TestSessionHeaders(t *testing.T) {
	opens := []struct {
		name   string
		open   func(*Session) (net.Conn, error)
		header string
	}{
		{"api", (*Session).OpenAPI, "api"},
		{"logs", (*Session).OpenLogs, "logs"},
		{"stdio", func(s *Session) (net.Conn, error) { return s.OpenStdio("c1//7", 2) }, "stdio c1//7 2"},
	}
	transports := []struct {
		name string
		// start returns the host's session and the guest's accept.
		start func(t *testing.T) (*Session, func() (net.Conn, error))
	}{
		{"yamux over a port", func(t *testing.T) (*Session, func() (net.Conn, error)) {
			host, guest := net.Pipe()
			srv, err := yamux.Server(guest, nil)
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewSession(host)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(); srv.Close() })
			return s, srv.Accept
		}},
		{"a connection per stream", func(t *testing.T) (*Session, func() (net.Conn, error)) {
			accepted := make(chan net.Conn, 1)
			dial := func() (net.Conn, error) {
				host, guest := net.Pipe()
				accepted <- guest
				return host, nil
			}
			done := make(chan struct{})
			t.Cleanup(func() { close(done) })
			return NewDialSession(dial, done), func() (net.Conn, error) { return <-accepted, nil }
		}},
	}
	for _, tr := range transports {
		for _, o := range opens {
			t.Run(tr.name+"/"+o.name, func(t *testing.T) {
				s, accept := tr.start(t)
				got := make(chan string, 1)
				go func() {
					c, err := accept()
					if err != nil {
						got <- err.Error()
						return
					}
					line, _ := bufio.NewReader(c).ReadString('\n')
					got <- line
					io.Copy(io.Discard, c)
				}()
				c, err := o.open(s)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if line := <-got; line != o.header+"\n" {
					t.Fatalf("header %q, want %q", line, o.header+"\n")
				}
			})
		}
	}
}

func TestYamuxConfigHasNoKeepalive(t *testing.T) {
	cfg := YamuxConfig()
	if cfg.EnableKeepAlive || cfg.ConnectionWriteTimeout < time.Minute {
		t.Errorf("keepalive %v, write timeout %s: a slow guest would lose its session", cfg.EnableKeepAlive, cfg.ConnectionWriteTimeout)
	}
}
