// Package echotest is a server for tests of port-forwarding: it stands
// for a pod's server and answers each connection's first line with
// "echo: <line>", then closes it.
package echotest

import (
	"bufio"
	"io"
	"net"
	"testing"
)

// Listen serves on an ephemeral port of the IPv4 loopback until the test
// ends, and returns that port.
func Listen(t testing.TB) uint16 {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				_, _ = io.WriteString(c, "echo: "+line)
			}()
		}
	}()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}
