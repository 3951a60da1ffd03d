//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// TestVMRunsGuestKernel runs a container in a utility VM: it sees the
// guest's kernel, and its output and exit code come back.
func TestVMRunsGuestKernel(t *testing.T) {
	harness.RequireBootFiles(t)
	ctx := context.Background()
	release, err := harness.GuestKernelRelease()
	if err != nil {
		t.Skip(err)
	}
	r := cd.Ctr(ctx, append(append([]string{"run", "--rm"}, vmArgs...),
		image.Name, "vm-uname", "sh", "-c", "uname -r; seq 1 50000; exit 7")...)
	if r.Code != 7 {
		t.Fatalf("exit code %d (%v): %s", r.Code, r.Err, r.Output())
	}
	lines := strings.Split(r.Stdout, "\n")
	if lines[0] != release {
		t.Fatalf("container saw kernel %q, want the guest's %q", lines[0], release)
	}
	// Output written just before the exit is all there.
	if len(lines) != 50002 || lines[50000] != "50000" || lines[50001] != "" {
		t.Fatalf("%d lines of output, ending %q; want the kernel and 1..50000", len(lines), lines[len(lines)-2:])
	}
	// The agent's own log reaches the shim's (containerd's) log.
	b, err := os.ReadFile(cd.Log)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"winctr-gcs: created container vm-uname", "winctr-gcs: mounted share (virtiofs)"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("containerd's log lacks the guest's %q", want)
		}
	}
}

// TestVMExecStdinKill drives one container in a VM through the calls the
// host-kernel tests use: stdin, exec with its own exit code, ps, pause and
// resume, kill -9, and removal leaving nothing.
func TestVMExecStdinKill(t *testing.T) {
	harness.RequireBootFiles(t)
	ctx := context.Background()
	in := "through the VM\n"
	r := cd.CtrInput(ctx, in, append(append([]string{"run", "--rm"}, vmArgs...), image.Name, "vm-cat", "cat")...)
	if r.Err != nil || r.Stdout != in {
		t.Fatalf("stdin: %q (%v) %s", r.Stdout, r.Err, r.Stderr)
	}

	id := "vm-long"
	cd.CleanupTask(t, id)
	cd.StartSleeper(t, id, vmArgs...)
	r = cd.Ctr(ctx, "task", "exec", "--exec-id", "vx", id, "sh", "-c", "echo in-vm-exec; exit 5")
	if r.Code != 5 || r.Stdout != "in-vm-exec\n" {
		t.Fatalf("exec: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if r := cd.Ctr(ctx, "task", "ps", id); r.Err != nil || !strings.Contains(r.Stdout, "PID") {
		t.Fatalf("ps: %v %q", r.Err, r.Output())
	}
	if r := cd.Ctr(ctx, "task", "pause", id); r.Err != nil || cd.TaskStatus(id) != "PAUSED" {
		t.Fatalf("pause: %v %s -> %s", r.Err, r.Output(), cd.TaskStatus(id))
	}
	if r := cd.Ctr(ctx, "task", "resume", id); r.Err != nil || cd.TaskStatus(id) != "RUNNING" {
		t.Fatalf("resume: %v %s", r.Err, r.Output())
	}
	if r := cd.Ctr(ctx, "task", "kill", "-s", "9", id); r.Err != nil {
		t.Fatalf("kill: %v %s", r.Err, r.Output())
	}
	cd.WaitStopped(t, id)
	cd.RemoveTask(t, id)
	cd.AssertNoLeaks(t)
}

// vmArgs put a ctr container in a utility VM of its own.
var vmArgs = harness.VMOptions("")

func TestVMTTYAndMetrics(t *testing.T) {
	harness.RequireBootFiles(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	id := "vm-tty"
	cd.CleanupTask(t, id)
	args := append(append([]string{"run", "--rm", "-t"}, vmArgs...), image.Name, id,
		"sh", "-c", "sleep 1; stty size; read line; echo got:$line")
	cmd := cd.CtrCmd(ctx, args...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 33, Cols: 99})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var mu sync.Mutex
	var out strings.Builder
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := func(s string) bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(out.String(), s)
	}
	for !seen("33 99") {
		if ctx.Err() != nil {
			t.Fatalf("no terminal size from the VM; output %q", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// While the container waits for input, its metrics come from the guest.
	r := cd.Ctr(ctx, "task", "metrics", id)
	if r.Err != nil || !strings.Contains(r.Stdout, "memory") {
		t.Fatalf("metrics from the VM: %v %q", r.Err, r.Output())
	}
	if _, err := ptmx.Write([]byte("vm\r")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ctr run -t: %v; output %q", err, out.String())
	}
	if !seen("got:vm") {
		t.Fatalf("input did not reach the VM; output %q", out.String())
	}
}

func TestVMBootFilesMissing(t *testing.T) {
	ctx := context.Background()
	id := "vm-nobootfiles"
	cd.CleanupTask(t, id)
	r := cd.Ctr(ctx, append(append([]string{"run", "--rm"}, harness.VMOptions("boot_files_root_path = \"/nonexistent/lcow\"\n")...),
		image.Name, id, "true")...)
	if r.Err == nil {
		t.Fatal("ctr run without boot files succeeded")
	}
	for _, want := range []string{"/nonexistent/lcow", "make bootfiles"} {
		if !strings.Contains(r.Stderr, want) {
			t.Fatalf("error %q does not mention %q", r.Stderr, want)
		}
	}
	cd.AssertNoLeaks(t)
}

// TestVMBindMountAndSize checks that a bind mount from the host reaches
// the container in the VM both ways, and that hcsshim's processor-count
// and winctr's memory annotations size the VM.
func TestVMBindMountAndSize(t *testing.T) {
	harness.RequireBootFiles(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"run", "--rm"}, vmArgs...)
	args = append(args,
		"--annotation", "io.microsoft.virtualmachine.computetopology.processor.count=2",
		"--annotation", "io.winctr.vm.memory-mb=384",
		"--mount", "type=bind,src="+dir+",dst=/data,options=rbind:rw",
		image.Name, "vm-bind", "sh", "-c",
		"cat /data/in; echo from-vm > /data/out; grep -c ^processor /proc/cpuinfo; grep MemTotal /proc/meminfo")
	r := cd.Ctr(ctx, args...)
	if r.Err != nil {
		t.Fatalf("ctr run: %v %s", r.Err, r.Output())
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 3 || lines[0] != "from-host" || lines[1] != "2" {
		t.Fatalf("output %q: want the host file, then 2 processors", r.Stdout)
	}
	var kb int
	if _, err := fmt.Sscanf(strings.Join(strings.Fields(lines[2])[1:2], ""), "%d", &kb); err != nil || kb < 250*1024 || kb > 384*1024 {
		t.Fatalf("guest memory %q, want about 384 MB", lines[2])
	}
	b, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil || string(b) != "from-vm\n" {
		t.Fatalf("file written in the VM: %q %v", b, err)
	}
	cd.AssertNoLeaks(t)
}

// TestVMPodSharesOneVM puts two containers with the same sandbox id in one
// shim and one VM: they see the same guest (boot id), and the VM goes when
// the last of them is removed.
func TestVMPodSharesOneVM(t *testing.T) {
	harness.RequireBootFiles(t)
	ctx := context.Background()
	pod := []string{"--annotation", "io.kubernetes.cri.sandbox-id=vm-pod"}
	// Five containers, as the host-kernel suite's leak test runs.
	ids := []string{"vm-pod-a", "vm-pod-b", "vm-pod-c", "vm-pod-d", "vm-pod-e"}
	for _, id := range ids {
		cd.CleanupTask(t, id)
		cd.StartSleeper(t, id, append(append([]string{}, vmArgs...), pod...)...)
	}
	var bootIDs []string
	for _, id := range ids {
		r := cd.Ctr(ctx, "task", "exec", "--exec-id", "boot", id, "cat", "/proc/sys/kernel/random/boot_id")
		if r.Err != nil {
			t.Fatalf("exec in %s: %v %s", id, r.Err, r.Output())
		}
		bootIDs = append(bootIDs, strings.TrimSpace(r.Stdout))
	}
	for _, b := range bootIDs {
		if b != bootIDs[0] || b == "" {
			t.Fatalf("containers of one pod in different guests: %v", bootIDs)
		}
	}
	qemus := 0
	for _, pid := range cd.VMProcesses() {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && strings.Contains(string(b), "qemu-system") {
			qemus++
		}
	}
	if qemus != 1 {
		t.Fatalf("%d QEMU processes for one pod", qemus)
	}
	for _, id := range ids {
		cd.Ctr(ctx, "task", "kill", "-s", "9", id)
		cd.WaitStopped(t, id)
		cd.RemoveTask(t, id)
	}
	cd.AssertNoLeaks(t)
}

func TestVMEventOrder(t *testing.T) {
	harness.RequireBootFiles(t)
	checkEventOrder(t, "vm-events", vmArgs...)
	cd.AssertNoLeaks(t)
}

// TestVMFromRuntimeOptions asks for the VM in the runtime options (what
// CRI's runtime table carries) instead of an annotation.
func TestVMFromRuntimeOptions(t *testing.T) {
	harness.RequireBootFiles(t)
	release, err := harness.GuestKernelRelease()
	if err != nil {
		t.Skip(err)
	}
	opts := filepath.Join(t.TempDir(), "winctr.toml")
	if err := os.WriteFile(opts, []byte("isolation = \"hypervisor\"\nvm_memory_size_in_mb = 320\n"+harness.BootFilesOption()), 0o600); err != nil {
		t.Fatal(err)
	}
	r := cd.Ctr(context.Background(), "run", "--rm", "--runtime", harness.Runtime, "--runtime-config-path", opts,
		image.Name, "vm-options", "sh", "-c", "uname -r; grep MemTotal /proc/meminfo")
	if r.Err != nil {
		t.Fatalf("run: %v %s", r.Err, r.Output())
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 2 || lines[0] != release {
		t.Fatalf("output %q, want the guest kernel %q and its memory", r.Stdout, release)
	}
	var kb int
	if _, err := fmt.Sscanf(strings.TrimPrefix(lines[1], "MemTotal:"), "%d", &kb); err != nil || kb > 320*1024 || kb < 200*1024 {
		t.Fatalf("guest memory %q, want about 320 MiB", lines[1])
	}
	cd.AssertNoLeaks(t)
}

// TestVMBootFails boots the real kernel with an initrd that is not one:
// the guest panics, and the task fails with the console's tail, leaving
// no QEMU, virtiofsd or state behind.
func TestVMBootFails(t *testing.T) {
	harness.RequireBootFiles(t)
	dir := t.TempDir()
	src := harness.BootFiles()
	for _, f := range []string{bootmanifest.KernelFile, bootmanifest.File} {
		if err := os.Symlink(filepath.Join(src, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, bootmanifest.InitrdFile), []byte("not a cpio archive\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := "vm-badboot"
	cd.CleanupTask(t, id)
	r := cd.Ctr(context.Background(), append(append([]string{"run", "--rm"}, harness.VMOptions(fmt.Sprintf("boot_files_root_path = %q\n", dir))...),
		image.Name, id, "true")...)
	if r.Err == nil {
		t.Fatal("ctr run with a broken initrd succeeded")
	}
	for _, want := range []string{"console tail", "Kernel panic"} {
		if !strings.Contains(r.Stderr, want) {
			t.Fatalf("error %q does not mention %q", r.Stderr, want)
		}
	}
	cd.Ctr(context.Background(), "container", "rm", id)
	cd.AssertNoLeaks(t)
}

// TestVMRefusesHostNamespaces: a container in a VM cannot join a
// namespace of the host; that is refused by name, and the VM it booted
// for is torn down.
func TestVMRefusesHostNamespaces(t *testing.T) {
	harness.RequireBootFiles(t)
	ctx := context.Background()
	id := "vm-hostns"
	cd.CleanupTask(t, id)
	r := cd.Ctr(ctx, append(append([]string{"run", "--rm"}, vmArgs...),
		"--with-ns", "network:/proc/1/ns/net", image.Name, id, "true")...)
	if r.Err == nil {
		t.Fatal("ctr run joining the host's network namespace in a VM succeeded")
	}
	for _, want := range []string{"network namespace", "utility VM", "invalid argument"} {
		if !strings.Contains(r.Stderr, want) {
			t.Fatalf("error %q does not mention %q", r.Stderr, want)
		}
	}
	cd.Ctr(ctx, "container", "rm", id)
	cd.AssertNoLeaks(t)
}

// TestVMPrivilegedManagesNetwork: a privileged container in a VM pod has
// what a privileged container expects of a Linux kernel (bridges, veth
// pairs, tun), the guest's modules loaded before it starts; a container
// without CAP_NET_ADMIN in the same kind of VM does not load them.
func TestVMPrivilegedManagesNetwork(t *testing.T) {
	harness.RequireBootFiles(t)
	ctx := context.Background()
	plain := cd.Ctr(ctx, append(append([]string{"run", "--rm"}, vmArgs...),
		image.Name, "vm-plain", "sh", "-c", "grep -c '^bridge ' /proc/modules; true")...)
	if plain.Err != nil || strings.TrimSpace(plain.Stdout) != "0" {
		t.Fatalf("a plain container's guest has the bridge module (%q, %v): %s", plain.Stdout, plain.Err, plain.Stderr)
	}
	r := cd.Ctr(ctx, append(append([]string{"run", "--rm", "--privileged"}, vmArgs...),
		image.Name, "vm-netadmin", "sh", "-c", "brctl addbr br0 && ip link add v0 type veth peer name v1 && "+
			"ip link set v0 master br0 && tunctl -t tap0 >/dev/null && ip -o link show | grep -c -e br0 -e v0@v1 -e tap0")...)
	if r.Err != nil || strings.TrimSpace(r.Stdout) != "3" {
		t.Fatalf("privileged container in a VM: bridge, veth and tap: %q (%v): %s", r.Stdout, r.Err, r.Stderr)
	}
	cd.AssertNoLeaks(t)
}

// TestVMOOMEvent: a container in a VM past its memory limit is killed in
// the guest, and the guest's OOM event reaches containerd.
func TestVMOOMEvent(t *testing.T) {
	harness.RequireBootFiles(t)
	checkOOMEvent(t, "vm-oom", vmArgs...)
	cd.AssertNoLeaks(t)
}
