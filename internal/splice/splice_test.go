package splice

import (
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// A request ended by a half-close gets its answer, and both ends see the
// end of the other's data; Conns returns once both directions ended.
func TestConnsCarriesHalfCloses(t *testing.T) {
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	done := make(chan error, 1)
	go func() { done <- Conns(a, b) }()
	go func() {
		req, _ := io.ReadAll(server) // until the client's half-close
		server.Write(append([]byte("answer to "), req...))
		server.(*net.TCPConn).CloseWrite()
	}()
	client.Write([]byte("question"))
	client.(*net.TCPConn).CloseWrite()
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "answer to question" {
		t.Fatalf("read %q", got)
	}
	waitReturn(t, done, false)
}

// A side without a half-close is closed whole when the other stops
// sending: its peer reads the data, then the end.
func TestConnsClosesWholeWithoutHalfClose(t *testing.T) {
	client, a := tcpPair(t)
	b, peer := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- Conns(a, b) }()
	client.Write([]byte("all of it"))
	client.Close()
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(peer)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "all of it" {
		t.Fatalf("read %q", got)
	}
	waitReturn(t, done, false)
}

// A reset on one side ends both directions: the other side's peer sees
// its connection end although it never stopped sending.
func TestConnsEndsBothOnReset(t *testing.T) {
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	done := make(chan error, 1)
	go func() { done <- Conns(a, b) }()
	client.Write([]byte("x"))
	buf := make([]byte, 1)
	server.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(server, buf); err != nil {
		t.Fatal(err)
	}
	client.(*net.TCPConn).SetLinger(0)
	client.Close() // a reset, not an orderly end
	// The server keeps its sending half open; only the reset ends it.
	if _, err := io.ReadAll(server); err != nil {
		t.Fatalf("server read: %v", err)
	}
	waitReturn(t, done, true)
}

func waitReturn(t *testing.T, done <-chan error, wantErr bool) {
	t.Helper()
	select {
	case err := <-done:
		if (err != nil) != wantErr {
			t.Fatalf("Conns returned %v, want an error: %v", err, wantErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Conns did not return")
	}
}
