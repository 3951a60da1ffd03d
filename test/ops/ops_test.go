//go:build e2e

package ops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/hostcheck"
	"github.com/winctr/winctr/internal/lcow"
	"github.com/winctr/winctr/internal/nodestate"
	"github.com/winctr/winctr/internal/vmstate"
	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// bootFiles are the boot files the suite's VMs boot: WINCTR_TEST_BOOTFILES
// (boot files of this tree's agent, built elsewhere than the shared ones),
// else the installed ones.
func bootFiles(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("WINCTR_TEST_BOOTFILES")
	if dir == "" {
		dir = lcow.DefaultBootFiles
	}
	if _, err := bootmanifest.Read(dir); err != nil {
		t.Skipf("no boot files with a manifest in %s (make bootfiles, or set WINCTR_TEST_BOOTFILES): %v", dir, err)
	}
	return dir
}

// vmArgs are ctr's flags for a VM pod from those boot files, with the
// options' extra lines.
func vmArgs(t *testing.T, extra string) []string {
	return harness.VMOptions(fmt.Sprintf("boot_files_root_path = %q\n", bootFiles(t)) + extra)
}

// winctr runs bin/winctr and returns its exit status, stdout and stderr.
func winctr(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	repo, err := harness.Repo()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(repo, "bin", "winctr"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("winctr %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func pods(t *testing.T) []nodestate.Pod {
	t.Helper()
	code, out, errb := winctr(t, "ps", "-n", cd.Namespace, "-o", "json")
	if code != 0 {
		t.Fatalf("winctr ps: %d %s", code, errb)
	}
	var ps []nodestate.Pod
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		t.Fatalf("winctr ps -o json: %v: %s", err, out)
	}
	return ps
}

func pod(t *testing.T, id string) nodestate.Pod {
	t.Helper()
	p, ok := nodestate.Find(pods(t), cd.Namespace, id)
	if !ok {
		t.Fatalf("winctr ps does not list %s: %+v", id, pods(t))
	}
	return p
}

func stop(t *testing.T, id string) {
	t.Helper()
	cd.Ctr(t.Context(), "task", "kill", "-s", "9", id)
	cd.WaitStopped(t, id)
	cd.RemoveTask(t, id)
}

func TestPsListsHostAndVMPods(t *testing.T) {
	cd.CleanupTask(t, "ops-host")
	cd.CleanupTask(t, "ops-vm")
	cd.StartSleeper(t, "ops-host", "--runtime", harness.Runtime)
	defer stop(t, "ops-host")
	cd.StartSleeper(t, "ops-vm", vmArgs(t, "vm_memory_size_in_mb = 256\n")...)
	defer stop(t, "ops-vm")

	host, vm := pod(t, "ops-host"), pod(t, "ops-vm")
	t.Logf("host pod: %+v", host)
	t.Logf("VM pod: %+v, VM %+v", vm, *vm.VM)
	if host.Isolation != "process" || host.VM != nil || host.ShimPSS == 0 || host.HostPSS != host.ShimPSS ||
		strings.Join(host.Containers, ",") != "ops-host" {
		t.Errorf("host pod: %+v", host)
	}
	if vm.Isolation != "hypervisor" || vm.VM == nil || vm.VM.MemoryMB != 256 || vm.VM.CPUs != 1 || vm.VM.QEMUPSS == 0 ||
		vm.VM.VirtiofsdPSS == 0 || vm.HostPSS != vm.ShimPSS+vm.VM.QEMUPSS+vm.VM.VirtiofsdPSS || strings.Join(vm.Containers, ",") != "ops-vm" {
		t.Errorf("VM pod: %+v", vm)
	}
	// The table names both, with the VM's size and memory.
	code, out, _ := winctr(t, "ps", "-n", cd.Namespace)
	t.Logf("winctr ps:\n%s", out)
	if code != 0 || !regexp.MustCompile(`ops-vm\s+hypervisor\s+\d+\s+\d+\s+1\s+256 MB\s+[\d.]+ MiB`).MatchString(out) ||
		!regexp.MustCompile(`ops-host\s+process\s+\d+\s+-`).MatchString(out) {
		t.Errorf("winctr ps:\n%s", out)
	}

	// The VM's logs: the agent's boot line, the console's kernel lines.
	code, out, errb := winctr(t, "logs", "ops-vm")
	if code != 0 || !strings.Contains(out, "==> guest agent <==") || !strings.Contains(out, "boot: agent on its root") {
		t.Errorf("winctr logs: %d %s %s", code, out, errb)
	}
	if _, err := os.Stat(filepath.Join(vm.VM.Dir, vmstate.ConsoleLog)); err != nil {
		t.Error(err)
	}
}

func TestStacks(t *testing.T) {
	cd.CleanupTask(t, "ops-stacks")
	cd.StartSleeper(t, "ops-stacks", vmArgs(t, "")...)
	defer stop(t, "ops-stacks")
	code, out, errb := winctr(t, "stacks", "ops-stacks")
	if code != 0 {
		t.Fatalf("winctr stacks: %d %s", code, errb)
	}
	shim, agent, _ := strings.Cut(out, "==> guest agent <==")
	for _, want := range []string{"goroutine ", "containerd-shim-winctr-v1", "internal/task"} {
		if !strings.Contains(shim, want) && !(want == "containerd-shim-winctr-v1" && strings.Contains(shim, "==> shim ")) {
			t.Errorf("the shim's stacks lack %q:\n%.2000s", want, shim)
		}
	}
	if !strings.Contains(agent, "goroutine ") || !strings.Contains(agent, "main.") {
		t.Errorf("the agent's stacks:\n%.2000s", agent)
	}
}

func TestShell(t *testing.T) {
	m, err := bootmanifest.Read(bootFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	cd.CleanupTask(t, "ops-shell")
	cd.CleanupTask(t, "ops-noshell")
	cd.StartSleeper(t, "ops-shell", vmArgs(t, "debug_shell = true\n")...)
	defer stop(t, "ops-shell")
	cd.StartSleeper(t, "ops-noshell", vmArgs(t, "")...)
	defer stop(t, "ops-noshell")

	code, out, errb := winctr(t, "shell", "ops-shell", "uname", "-r")
	if code != 0 || out != m.KernelRelease+"\n" {
		t.Errorf("winctr shell uname -r: %d %q %q; want the guest's %s", code, out, errb, m.KernelRelease)
	}
	// Outside the containers: the guest's root, where the agent is /init.
	code, out, _ = winctr(t, "shell", "ops-shell", "sh", "-c", "ls /init && exit 7")
	if code != 7 || out != "/init\n" {
		t.Errorf("exit status and root: %d %q", code, out)
	}
	// Interactive, on a terminal: a prompt, the input, the exit status.
	repo, err := harness.Repo()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(repo, "bin", "winctr"), "shell", "ops-shell")
	var shellErr bytes.Buffer
	cmd.Stderr = &shellErr
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 132})
	if err != nil {
		t.Fatal(err)
	}
	var term bytes.Buffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&term, ptmx)
		close(copied)
	}()
	io.WriteString(ptmx, "stty size; tty; exit 5\n")
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 5 {
			t.Errorf("interactive shell ended with %v, want exit status 5: %s", err, shellErr.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Error("the interactive shell did not end")
	}
	ptmx.Close()
	<-copied
	if !strings.Contains(term.String(), "40 132") || !strings.Contains(term.String(), "/dev/pts/") {
		t.Errorf("terminal session:\n%s", term.String())
	}

	code, out, errb = winctr(t, "shell", "ops-noshell", "uname", "-r")
	if code == 0 || !strings.Contains(errb, "debug_shell = true") {
		t.Errorf("a shell where the options do not allow it: %d %q %q", code, out, errb)
	}
	// The session's copy of the shell is gone with it.
	p := pod(t, "ops-shell")
	if entries, _ := filepath.Glob(filepath.Join(p.VM.Dir, vmstate.Share, ".debug-*")); len(entries) != 0 {
		t.Errorf("left in the share: %v", entries)
	}
}

func TestCheck(t *testing.T) {
	dir := bootFiles(t)
	repo, err := harness.Repo()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repo, "bin") + ":" + os.Getenv("PATH")
	run := func(bootDir string) (int, []hostcheck.Result) {
		cmd := exec.Command(filepath.Join(repo, "bin", "winctr"), "check", "-o", "json", "--boot-files", bootDir,
			"--containerd", filepath.Join(repo, "_output", "tools", "bin", "containerd"))
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		var r struct {
			Results []hostcheck.Result `json:"results"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("winctr check -o json: %v: %s", err, out)
		}
		return code, r.Results
	}
	code, rs := run(dir)
	for _, r := range rs {
		t.Logf("%-5s %-12s %s", r.Status, r.Name, r.Detail)
		if r.Status == hostcheck.Fail || (r.Status == hostcheck.Warn && r.Name != "kvm") {
			t.Errorf("%s: %s %s", r.Name, r.Status, r.Detail)
		}
	}
	if code != 0 {
		t.Errorf("winctr check exited %d", code)
	}
	empty := t.TempDir()
	code, rs = run(empty)
	if code != 1 {
		t.Errorf("winctr check without boot files exited %d", code)
	}
	for _, r := range rs {
		if r.Name == "boot files" && (r.Status != hostcheck.Fail || !strings.Contains(r.Detail, filepath.Join(empty, "initrd.img")) ||
			!strings.Contains(r.Detail, filepath.Join(empty, "kernel"))) {
			t.Errorf("boot files: %+v", r)
		}
	}
}

// TestRequireKVM: without usable KVM, require_kvm refuses the VM pod
// rather than running it under emulation.
func TestRequireKVM(t *testing.T) {
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		t.Skip("KVM is usable here")
	}
	id := "ops-kvm"
	cd.CleanupTask(t, id)
	r := cd.Ctr(t.Context(), append(append([]string{"run", "--rm"}, vmArgs(t, "require_kvm = true\n")...), image.Name, id, "true")...)
	if r.Err == nil || !strings.Contains(r.Stderr, "require_kvm") || !strings.Contains(r.Stderr, "/dev/kvm") {
		t.Errorf("ctr run with require_kvm and no KVM: %v %s", r.Err, r.Output())
	}
	cd.Ctr(t.Context(), "container", "rm", id)
	cd.AssertNoLeaks(t)
}
