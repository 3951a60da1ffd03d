//go:build linux

package portforward

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/log"
	"github.com/google/nftables"
	"github.com/vishvananda/netns"

	"github.com/winctr/winctr/internal/echotest"
	"github.com/winctr/winctr/internal/innetns"
)

// podNetns makes a network namespace with its loopback up, as CRI gives
// a pod, and returns its handle and a path to it.
func podNetns(t *testing.T) (netns.NsHandle, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	ns, err := newLoopbackNetns()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns, nsPath(ns)
}

// This machine's kernel forwards, and the probe leaves nothing behind.
func TestProbe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if err := Probe(); err != nil {
		t.Fatal(err)
	}
}

// guestEcho stands in for the guest: port 80 is an echotest server;
// every other port is refused.
func guestEcho(t *testing.T) OpenPort {
	port := echotest.Listen(t)
	return func(p uint16) (net.Conn, error) {
		if p != 80 {
			return nil, fmt.Errorf("port %d in the guest: connection refused", p)
		}
		return net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	}
}

// dialIn connects to addr from inside ns.
func dialIn(ns netns.NsHandle, addr string) (c net.Conn, err error) {
	err = innetns.Do(ns, func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, 5*time.Second)
		return err
	})
	return c, err
}

// What CRI's port-forward does in the pod's namespace reaches the guest:
// localhost:<port> (any 127/8 address) is the guest's port; a port the
// guest refuses resets the connection; once closed, the namespace has no
// table of ours and its loopback refuses as before.
func TestForwarderCarriesLoopbackToTheGuest(t *testing.T) {
	ns, path := podNetns(t)
	f, err := Start(path, guestEcho(t), log.L)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })

	for _, tc := range []struct {
		addr      string
		wantReply string // "" for a reset
	}{
		{"127.0.0.1:80", "echo: hello\n"},
		{"127.0.0.2:80", "echo: hello\n"},
		{"localhost:80", "echo: hello\n"},
		{"127.0.0.1:81", ""},
		{fmt.Sprintf("127.0.0.1:%d", f.Port()), ""}, // itself: the guest's port of that number
	} {
		t.Run(tc.addr, func(t *testing.T) {
			c, err := dialIn(ns, tc.addr)
			if tc.wantReply == "" && errors.Is(err, syscall.ECONNRESET) {
				return // reset before connect returned
			}
			if err != nil {
				t.Fatalf("dial %s in the pod's namespace: %v", tc.addr, err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			_, werr := io.WriteString(c, "hello\n")
			got, err := io.ReadAll(c)
			if tc.wantReply == "" {
				// The reset reaches the write or the read, whichever
				// comes after it.
				if got := string(got); got != "" || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(werr, syscall.ECONNRESET) || errors.Is(werr, syscall.EPIPE)) {
					t.Fatalf("write %v, read %q, %v; want a reset", werr, got, err)
				}
				return
			}
			if err != nil || string(got) != tc.wantReply {
				t.Fatalf("read %q, %v; want %q", got, err, tc.wantReply)
			}
		})
	}

	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == TableName {
			t.Fatalf("table %s left in the namespace", TableName)
		}
	}
	if c, err := dialIn(ns, "127.0.0.1:80"); err == nil || !strings.Contains(err.Error(), "refused") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("after Close, dial 127.0.0.1:80 = %v, want refused", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A namespace that is gone takes the redirect with it: Close does not
// fail on it. A path that is no namespace fails Start with nothing left.
func TestForwarderNamespaceGone(t *testing.T) {
	if _, err := Start("/nonexistent/netns", guestEcho(t), log.L); err == nil {
		t.Fatal("Start in a missing namespace succeeded")
	}
	ns, path := podNetns(t)
	f, err := Start(path, guestEcho(t), log.L)
	if err != nil {
		t.Fatal(err)
	}
	ns.Close() // the path no longer opens
	if err := f.Close(); err != nil {
		t.Fatalf("Close after the namespace went: %v", err)
	}
}

// Close ends the connections in flight, those joined to the guest and one
// still waiting on the guest's answer, without waiting for that answer.
func TestForwarderCloseEndsConnectionsInFlight(t *testing.T) {
	ns, path := podNetns(t)
	echo := guestEcho(t)
	answer := make(chan struct{})
	t.Cleanup(func() { close(answer) })
	f, err := Start(path, func(port uint16) (net.Conn, error) {
		if port == 81 {
			<-answer // a guest that does not answer
		}
		return echo(port)
	}, log.L)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for _, addr := range []string{"127.0.0.1:80", "127.0.0.1:81"} {
		c, err := dialIn(ns, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// The first is joined once its echo answers a line; the second
	// stays without an answer.
	conns[0].SetDeadline(time.Now().Add(10 * time.Second))
	closed := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond) // let both reach the forwarder
		closed <- f.Close()
	}()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the guest's answer")
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("connection %d after Close: %v", i, err)
		}
	}
}
