//go:build linux

package runchost

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"github.com/containerd/fifo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/stdio"
)

// These tests run real containers with runc; they need root, runc and a
// static busybox, and skip without them.
func requireRunc(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("needs runc")
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox")
	}
	if err := reaperIsSubreaper(); err != nil {
		t.Skip(err)
	}
	return bb
}

// reaperIsSubreaper makes this test process reap container processes the
// way the shim does.
func reaperIsSubreaper() error {
	if err := setSubreaper(); err != nil {
		return err
	}
	startReaping()
	return nil
}

// testBundle builds a bundle whose rootfs holds busybox.
func testBundle(t *testing.T, busybox string, args ...string) (string, *specs.Spec) {
	t.Helper()
	dir, err := os.MkdirTemp("", "winctr-runchost-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "echo", "cat", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}},
		Root:    &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
		},
		Linux: &specs.Linux{
			Namespaces:  []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}},
			CgroupsPath: "/winctr-test/" + filepath.Base(dir),
		},
	}
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), js, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, spec
}

// readFifo makes an output FIFO and collects what the container writes.
func readFifo(t *testing.T, ctx context.Context, path string) <-chan string {
	t.Helper()
	f, err := fifo.OpenFifo(ctx, path, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 1)
	go func() {
		defer f.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				out <- sb.String()
				return
			}
		}
	}()
	return out
}

func TestRuncHostRunsAContainer(t *testing.T) {
	bb := requireRunc(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := t.TempDir()
	h, err := New(ctx, "test", Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)

	tests := []struct {
		name   string
		args   []string
		out    string
		status int
	}{
		{"echo", []string{"echo", "hello"}, "hello\n", 0},
		{"exit code", []string{"sh", "-c", "echo out; exit 3"}, "out\n", 3},
		{"output right before exit", []string{"sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done"}, "", 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bundle, spec := testBundle(t, bb, tt.args...)
			stdout := filepath.Join(bundle, "stdout")
			got := readFifo(t, ctx, stdout)
			id := "c" + string(rune('a'+i))
			c, err := h.CreateContainer(ctx, &containerhost.ContainerRequest{
				Namespace: "test", ID: id, Bundle: bundle, Spec: spec,
				Stdio: stdio.Config{Stdout: stdout},
			})
			if err != nil {
				t.Fatal(err)
			}
			p := c.Init()
			if p.Pid() == 0 {
				t.Fatal("no pid after create")
			}
			if err := p.Start(ctx); err != nil {
				t.Fatal(err)
			}
			e, err := p.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if e.Status != tt.status {
				t.Fatalf("status %d, want %d", e.Status, tt.status)
			}
			if err := p.Delete(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Delete(ctx); err != nil {
				t.Fatal(err)
			}
			out := <-got
			if tt.out != "" && out != tt.out {
				t.Fatalf("output %q, want %q", out, tt.out)
			}
			if tt.name == "output right before exit" && strings.Count(out, "\n") != 2000 {
				t.Fatalf("got %d lines, want 2000", strings.Count(out, "\n"))
			}
		})
	}
}

func setSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

var reaping sync.Once

// startReaping does what the shim's signal loop does: reap on SIGCHLD.
func startReaping() {
	reaping.Do(func() {
		ch := make(chan os.Signal, 32)
		signal.Notify(ch, unix.SIGCHLD)
		go func() {
			for range ch {
				_ = reaper.Reap()
			}
		}()
	})
}
