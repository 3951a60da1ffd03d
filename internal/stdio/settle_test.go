//go:build linux

package stdio

import (
	"bytes"
	"context"
	"io"
	"os"
	"sync"
	"testing"
	"time"
)

// TestSettleExitDoesNotWaitForASurvivingChild: an exec whose background
// child holds its output open. Its exit is reported once what it wrote
// reached containerd's reader, with no wait for the pipe's end, even
// while the child keeps writing; then containerd's reader sees EOF.
func TestSettleExitDoesNotWaitForASurvivingChild(t *testing.T) {
	for _, tc := range []struct {
		name      string
		childIsOn bool // the child keeps writing after the exit
	}{{"quiet child", false}, {"writing child", true}} {
		t.Run(tc.name, func(t *testing.T) {
			procR, procW, err := os.Pipe() // the exec's stdout
			if err != nil {
				t.Fatal(err)
			}
			defer procW.Close()
			fifoR, fifoW, err := os.Pipe() // containerd's FIFO
			if err != nil {
				t.Fatal(err)
			}
			defer fifoR.Close()
			p := newPipes()
			p.stdout = &output{w: fifoW, unread: fifoUnread(fifoW)}
			p.Attach(nil, procR, nil)
			defer p.Close()

			// What the exec wrote before it exited: more than a pipe holds.
			want := bytes.Repeat([]byte("0123456789abcdef"), 1<<13)
			var got bytes.Buffer
			var mu sync.Mutex
			eof := make(chan struct{})
			go func() {
				defer close(eof)
				buf := make([]byte, 4096)
				for {
					n, err := fifoR.Read(buf)
					mu.Lock()
					got.Write(buf[:n])
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
			writeDone := make(chan struct{})
			go func() {
				_, _ = procW.Write(want)
				close(writeDone)
			}()
			<-writeDone
			stop := make(chan struct{})
			defer close(stop)
			if tc.childIsOn {
				go func() {
					for {
						select {
						case <-stop:
							return
						default:
							_, _ = procW.Write([]byte("later\n"))
						}
					}
				}()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			if err := p.SettleExit(ctx); err != nil {
				t.Fatalf("settle: %v after %s", err, time.Since(start))
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("the exit waited %s for a pipe a child holds", d)
			}
			select {
			case <-eof:
			case <-time.After(2 * time.Second):
				t.Fatal("containerd's reader saw no EOF after the exit")
			}
			mu.Lock()
			defer mu.Unlock()
			if got.Len() < len(want) || !bytes.Equal(got.Bytes()[:len(want)], want) {
				t.Fatalf("containerd read %d bytes of the %d written before the exit", got.Len(), len(want))
			}
		})
	}
}

// TestSettleExitLosesNoShortOutput: a line written just before the exit,
// with the pipe still held open, reaches containerd's reader every time:
// the copy may hold it between its read and its count when the exit is
// settled (found by CRI's readlink /proc/self/ns/net coming back empty).
func TestSettleExitLosesNoShortOutput(t *testing.T) {
	for i := range 300 {
		procR, procW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		fifoR, fifoW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		p := newPipes()
		p.stdout = &output{w: fifoW, unread: fifoUnread(fifoW)}
		p.Attach(nil, procR, nil)
		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(fifoR)
			got <- b
		}()
		if _, err := procW.Write([]byte("net:[4026532175]\n")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := p.SettleExit(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if b := <-got; string(b) != "net:[4026532175]\n" {
			t.Fatalf("run %d: containerd read %q", i, b)
		}
		procW.Close()
		p.Close()
		fifoR.Close()
	}
}
