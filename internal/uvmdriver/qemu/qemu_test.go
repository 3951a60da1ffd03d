//go:build linux && e2e

package qemu

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/ttrpc"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/lcow/bootfiles"
	"github.com/winctr/winctr/internal/uvm"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// syncBuffer collects the serial console from QEMU's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBootAndPingAgent boots the project's boot files (the cloud kernel
// and an initrd with winctr-gcs) and talks to the agent over the
// virtio-serial + yamux transport. It needs QEMU and the cloud kernel
// (`make bootfiles` installs both) and takes seconds under TCG.
func TestBootAndPingAgent(t *testing.T) {
	if _, err := exec.LookPath(Binary); err != nil {
		t.Skip("needs qemu-system-x86")
	}
	release, err := bootfiles.NewestCloudKernel("/")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	agentBin := filepath.Join(dir, "winctr-gcs")
	build := exec.Command("go", "build", "-o", agentBin, "github.com/winctr/winctr/cmd/winctr-gcs")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build agent: %v\n%s", err, out)
	}
	boot := filepath.Join(dir, "boot")
	if err := bootfiles.Build(bootfiles.Options{Agent: agentBin, Out: boot, KernelRelease: release}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	console := &syncBuffer{}
	share := filepath.Join(dir, "share")
	if err := os.MkdirAll(share, 0o755); err != nil {
		t.Fatal(err)
	}
	vm, err := Start(ctx, uvm.Config{
		ID:       "test",
		StateDir: filepath.Join(dir, "state"),
		Kernel:   filepath.Join(boot, bootmanifest.KernelFile),
		Initrd:   filepath.Join(boot, bootmanifest.InitrdFile),
		ShareDir: share,
		Console:  console,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Stop(context.Background())

	conn, err := vm.Session().OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	resp, err := agent.NewAgentClient(client).Ping(ctx, &agent.PingRequest{RuncVersion: true})
	if err != nil {
		t.Fatalf("ping: %v\nconsole:\n%s", err, console.String())
	}
	if resp.KernelRelease != release {
		t.Fatalf("guest kernel %q, want the boot files' %q", resp.KernelRelease, release)
	}
	for _, m := range []string{"virtio_console", "virtiofs", "overlay"} {
		if !strings.Contains(strings.Join(resp.ModulesLoaded, " "), m) {
			t.Fatalf("module %s not loaded: %v", m, resp.ModulesLoaded)
		}
	}
	if _, err := agent.NewAgentClient(client).Mount(ctx, &agent.MountRequest{Type: "virtiofs", Source: "share", Target: "/run/winctr/share"}); err != nil {
		t.Fatalf("virtio-fs share not mounted in the guest: %v; console:\n%s", err, console.String())
	}
	if !strings.Contains(resp.RuncVersion, "crun version") {
		t.Fatalf("the OCI runtime (crun) does not run in the guest: %q", resp.RuncVersion)
	}
	t.Logf("guest %s answered at uptime %d ms (kvm=%v)", resp.KernelRelease, resp.UptimeMs, KVM())

	stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer stopCancel()
	if err := vm.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-vm.Exited():
	default:
		t.Fatal("QEMU still running after Stop")
	}
	if vm.fsd != nil && vm.fsd.ProcessState == nil {
		t.Fatal("virtiofsd still running after Stop")
	}
	if !strings.Contains(console.String(), "winctr-gcs: serving") {
		t.Fatalf("agent never said it serves; console:\n%s", console.String())
	}
}
