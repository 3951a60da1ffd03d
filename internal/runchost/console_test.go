//go:build linux

package runchost

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/console"

	"github.com/winctr/winctr/internal/stdio"
)

// TestExecOnATerminalSettlesWithAChildHoldingIt: an exec on a terminal
// whose background child keeps the terminal open. Its exit is settled
// once its last line reached containerd, without waiting for the
// terminal's end, which only the child's exit would bring.
func TestExecOnATerminalSettlesWithAChildHoldingIt(t *testing.T) {
	con, slave, err := console.NewPty()
	if err != nil {
		t.Skipf("no pty here: %v", err)
	}
	defer con.Close()
	f, err := os.OpenFile(slave, os.O_RDWR, 0) // the child's hold on it
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tty, err := pollableConsole(con)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	fifoR, fifoW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer fifoR.Close()
	p := stdio.FromStreams(nil, fifoW, nil)
	p.Attach(stdio.TTYInput(tty), tty, nil)
	defer p.Close()
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(fifoR)
		got <- string(b)
	}()
	if _, err := f.Write([]byte("last line\n")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.SettleExit(ctx); err != nil {
		t.Fatalf("settle: %v", err)
	}
	select {
	case s := <-got:
		if !strings.Contains(s, "last line") {
			t.Fatalf("containerd read %q", s)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("containerd's reader saw no EOF after the exit")
	}
}
