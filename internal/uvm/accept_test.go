package uvm

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestAcceptSessionEnds(t *testing.T) {
	listen := func(t *testing.T) net.Listener {
		// Loopback TCP: Unix socket paths under a Windows temp directory
		// may pass the 108 bytes AF_UNIX allows.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	t.Run("VM exits first", func(t *testing.T) {
		exited := make(chan struct{})
		close(exited)
		_, err := AcceptSession(context.Background(), listen(t), exited)
		if !errors.Is(err, ErrVMExited) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := AcceptSession(ctx, listen(t), nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
	})
}
