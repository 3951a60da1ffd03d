package shimdebug

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T, h Handler) string {
	t.Helper()
	dir := t.TempDir()
	ln, path, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if path != filepath.Join(dir, strconvPid()+".sock") {
		t.Errorf("socket at %s, want one named by the pid", path)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, %v; want 0600", fi.Mode(), err)
	}
	go Serve(context.Background(), ln, h)
	return path
}

func strconvPid() string { return strconv.Itoa(os.Getpid()) }

func TestCall(t *testing.T) {
	path := serve(t, func(ctx context.Context, req Request, s *Session) (int, error) {
		switch req.Op {
		case OpStacks:
			_, err := io.WriteString(s.Stdout, "goroutine 1 [running]:\n")
			return 0, err
		case OpShell:
			if !req.Terminal || req.Cols != 80 || len(req.Args) != 2 {
				return 0, errors.New("request not passed whole")
			}
			// Stdin first: its frames and the sizes come in the order the
			// client sent them, and the client sends them side by side.
			b, err := io.ReadAll(s.Stdin)
			if err != nil {
				return 0, err
			}
			size := <-s.Resize
			io.WriteString(s.Stderr, "size "+strings.Repeat("x", int(size.Cols)/40)+"\n")
			s.Stdout.Write(bytes.ToUpper(b))
			return 3, nil
		}
		return 0, errors.New("debug_shell is not enabled in the runtime's options")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var out, errb bytes.Buffer
	status, err := Call(ctx, path, Request{Op: OpStacks}, nil, &out, &errb, nil)
	if err != nil || status != 0 || out.String() != "goroutine 1 [running]:\n" {
		t.Errorf("stacks: %d, %v, %q", status, err, out.String())
	}

	out.Reset()
	resize := make(chan Size, 1)
	resize <- Size{Cols: 120, Rows: 40}
	big := strings.Repeat("a", maxFrame+10) // more than one frame
	status, err = Call(ctx, path, Request{Op: OpShell, Args: []string{"sh", "-i"}, Terminal: true, Cols: 80, Rows: 24},
		strings.NewReader(big), &out, &errb, resize)
	if err != nil || status != 3 {
		t.Fatalf("shell: %d, %v", status, err)
	}
	if out.String() != strings.ToUpper(big) || errb.String() != "size xxx\n" {
		t.Errorf("shell output: %d bytes, stderr %q", out.Len(), errb.String())
	}

	_, err = Call(ctx, path, Request{Op: "nope"}, nil, &out, &errb, nil)
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "debug_shell") {
		t.Errorf("refusal: %v; want a RemoteError with the shim's reason", err)
	}

	if _, err := Call(ctx, filepath.Join(t.TempDir(), "none.sock"), Request{Op: OpStacks}, nil, &out, &errb, nil); err == nil {
		t.Error("a missing socket answered")
	}
}

func TestReadFrameRefusesOversize(t *testing.T) {
	var b bytes.Buffer
	b.Write([]byte{FrameStdout, 0xff, 0xff, 0xff, 0xff})
	if _, _, err := readFrame(&b); err == nil {
		t.Error("a 4 GiB frame was accepted")
	}
	if err := writeFrame(io.Discard, FrameStdout, make([]byte, maxFrame+1)); err == nil {
		t.Error("an oversize frame was written")
	}
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	alive := SocketPath(dir, os.Getpid())
	gone := SocketPath(dir, 1<<22+1) // above the kernel's pid limit
	other := SocketPath(dir, 1)      // init, another executable
	keep := filepath.Join(dir, "notes.txt")
	for _, p := range []string{alive, gone, other, keep} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	RemoveStale(dir, self)
	for p, want := range map[string]bool{alive: true, gone: false, other: false, keep: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}
