//go:build linux

package stdio

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"
)

// reader plays containerd's client: it opens an output FIFO for reading
// and collects everything until EOF.
func reader(t *testing.T, path string) <-chan []byte {
	t.Helper()
	f, err := fifo.OpenFifo(context.Background(), path, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan []byte, 1)
	go func() {
		defer f.Close()
		b, _ := io.ReadAll(f)
		out <- b
	}()
	return out
}

func TestFIFOOutputsArriveWhole(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stdoutPath, stderrPath := filepath.Join(dir, "out"), filepath.Join(dir, "err")
	gotOut, gotErr := reader(t, stdoutPath), reader(t, stderrPath)
	p, err := Open(ctx, "ns", "id", Config{Stdout: stdoutPath, Stderr: stderrPath})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	big := make([]byte, 4<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	p.Attach(nil, outR, errR)
	go func() {
		outW.Write(big)
		outW.Close()
		errW.Write([]byte("oops\n"))
		errW.Close()
	}()
	if err := p.Drain(ctx, StallTimeout); err != nil {
		t.Fatal(err)
	}
	if b := <-gotOut; !bytes.Equal(b, big) {
		t.Fatalf("stdout: got %d bytes, want %d in order", len(b), len(big))
	}
	if b := <-gotErr; string(b) != "oops\n" {
		t.Fatalf("stderr %q", b)
	}
}

func TestStdinAndCloseStdin(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in := filepath.Join(dir, "in")
	if err := syscall.Mkfifo(in, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Open(ctx, "ns", "id", Config{Stdin: in})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !p.HasStdin() {
		t.Fatal("HasStdin false with a stdin FIFO")
	}
	w, err := fifo.OpenFifo(ctx, in, syscall.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	procR, procW := io.Pipe()
	p.Attach(procW, nil, nil)
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(procR, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("process read %q, %v", buf, err)
	}
	// CloseIO while containerd still holds its writer: the process sees EOF.
	if err := p.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	if _, err := procR.Read(buf); !errors.Is(err, io.EOF) {
		t.Fatalf("after CloseStdin the process read %v, want EOF", err)
	}
	if err := p.CloseStdin(); err != nil {
		t.Fatalf("second CloseStdin: %v", err)
	}
}

func TestFileURI(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	log := filepath.Join(dir, "sub", "c.log")
	uri := "file://" + log
	p, err := Open(ctx, "ns", "id", Config{Stdout: uri, Stderr: uri})
	if err != nil {
		t.Fatal(err)
	}
	p.Attach(nil, strings.NewReader("out\n"), strings.NewReader("err\n"))
	if err := p.Drain(ctx, StallTimeout); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "out\n") || !strings.Contains(string(b), "err\n") {
		t.Fatalf("log holds %q", b)
	}
}

func TestBinaryURI(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	logger := filepath.Join(dir, "logger")
	out := filepath.Join(dir, "logged")
	script := "#!/bin/sh\nexec 5>&-\ncat <&3 >> \"$1\" &\ncat <&4 >> \"$1\"\nwait\necho \"$CONTAINER_NAMESPACE/$CONTAINER_ID\" >> \"$1\"\n"
	if err := os.WriteFile(logger, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	uri := "binary://" + logger + "?" + out
	p, err := Open(ctx, "ns1", "id1", Config{Stdout: uri, Stderr: uri})
	if err != nil {
		t.Fatal(err)
	}
	p.Attach(nil, strings.NewReader("line\n"), nil)
	if err := p.Drain(ctx, StallTimeout); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "line\nns1/id1\n" {
		t.Fatalf("logger wrote %q", b)
	}
}

func TestBadURIs(t *testing.T) {
	tests := []string{"tcp://host:1/x", "file://relative/path", "binary://rel"}
	for _, uri := range tests {
		t.Run(uri, func(t *testing.T) {
			_, err := Open(context.Background(), "ns", "id", Config{Stdout: uri})
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("got %v, want invalid argument", err)
			}
		})
	}
}

func TestWaitHonoursContext(t *testing.T) {
	p, err := Open(context.Background(), "ns", "id", Config{})
	if err != nil {
		t.Fatal(err)
	}
	r, w := io.Pipe()
	defer w.Close()
	p.Attach(nil, r, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Drain(ctx, StallTimeout); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain with open output: %v", err)
	}
}

// TestCloseStdinLosesNothing: containerd's client closes its writer and
// sends CloseIO at once; what it wrote must still reach the process.
func TestCloseStdinLosesNothing(t *testing.T) {
	for i := 0; i < 5; i++ {
		clientR, clientW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		procR, procW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		p := FromStreams(clientR, nil, nil)
		p.Attach(procW, nil, nil)
		got := make(chan int, 1)
		go func() {
			b, _ := io.ReadAll(procR)
			got <- len(b)
		}()
		data := bytes.Repeat([]byte("x"), 300<<10)
		go func() {
			_, _ = clientW.Write(data)
			clientW.Close()
		}()
		// The client's CloseIO comes right behind its last write.
		time.Sleep(time.Millisecond)
		if err := p.CloseStdin(); err != nil {
			t.Fatal(err)
		}
		if n := <-got; n != len(data) {
			t.Fatalf("process read %d bytes of %d", n, len(data))
		}
		procR.Close()
	}
}

// collector collects what containerd's side would get.
type collector struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *collector) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(b)
}
func (c *collector) Close() error { return nil }

func TestDrainWaitsForSlowOutputNotForStuckOutput(t *testing.T) {
	// The bound leaves room for a loaded machine's scheduling delays.
	const idle = 300 * time.Millisecond
	// Slow but steady: a byte every 30 ms for 1.2 s, far past the idle
	// bound as a total; every byte must arrive.
	out := &collector{}
	r, w := io.Pipe()
	p := FromStreams(nil, out, nil)
	p.Attach(nil, r, nil)
	go func() {
		for range 40 {
			time.Sleep(30 * time.Millisecond)
			_, _ = w.Write([]byte("x"))
		}
		w.Close()
	}()
	if err := p.Drain(context.Background(), idle); err != nil {
		t.Fatalf("slow output: %v", err)
	}
	if got := out.buf.Len(); got != 40 {
		t.Fatalf("slow output: %d bytes of 40", got)
	}

	// Stuck: the writer holds the pipe open and writes nothing.
	r2, w2 := io.Pipe()
	defer w2.Close()
	p2 := FromStreams(nil, &collector{}, nil)
	p2.Attach(nil, r2, nil)
	start := time.Now()
	if err := p2.Drain(context.Background(), idle); !errors.Is(err, ErrStalled) {
		t.Fatalf("stuck output: %v, want ErrStalled", err)
	}
	if took := time.Since(start); took > 20*idle {
		t.Fatalf("stuck output: gave up after %s", took)
	}
}
