//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/winctr/winctr/internal/nodestate"
	"github.com/winctr/winctr/internal/shimdebug"
	"github.com/winctr/winctr/internal/vmstate"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpAndUsage(t *testing.T) {
	for name := range commands {
		for _, h := range []string{"--help", "-h"} {
			code, out, _ := runCLI(t, name, h)
			if code != 0 || !strings.Contains(out, "Usage: winctr "+name) || !strings.Contains(out, "-o string") {
				t.Errorf("%s %s: %d %q", name, h, code, out)
			}
		}
		if code, _, errb := runCLI(t, name, "-o", "yaml"); code != 2 || !strings.Contains(errb, "want text or json") {
			t.Errorf("%s -o yaml: %d %q", name, code, errb)
		}
	}
	if code, _, _ := runCLI(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, out, _ := runCLI(t, "help"); code != 0 || !strings.Contains(out, "shell") {
		t.Errorf("help: %d %q", code, out)
	}
	if code, _, errb := runCLI(t, "logs"); code != 2 || !strings.Contains(errb, "one pod expected") {
		t.Errorf("logs without a pod: %d %q", code, errb)
	}
}

// fakeNode makes a node with one VM pod (shim pid 4242) and one host
// pod (shim pid 4343), and points the commands at it.
func fakeNode(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	old, oldDebug := nodePaths, debugDir
	t.Cleanup(func() { nodePaths, debugDir = old, oldDebug })
	nodePaths = nodestate.Paths{Proc: filepath.Join(root, "proc"), VMRoot: filepath.Join(root, "vm"),
		PoolRoot: filepath.Join(root, "pool"), RuncRoot: filepath.Join(root, "runc")}
	debugDir = filepath.Join(root, "debug")
	write := func(path, body string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(nodePaths.Proc, "stat"), fmt.Sprintf("btime %d\n", time.Now().Add(-time.Hour).Unix()))
	proc := func(pid, ppid int, exe string, args ...string) {
		dir := filepath.Join(nodePaths.Proc, fmt.Sprint(pid))
		write(filepath.Join(dir, "cmdline"), strings.Join(append([]string{exe}, args...), "\x00"))
		write(filepath.Join(dir, "stat"), fmt.Sprintf("%d (x) S %d 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 100 0 0\n", pid, ppid))
		write(filepath.Join(dir, "smaps_rollup"), "Pss: 2048 kB\n")
		if err := os.Symlink(exe, filepath.Join(dir, "exe")); err != nil {
			t.Fatal(err)
		}
	}
	proc(4242, 1, "/usr/local/bin/containerd-shim-winctr-v1", "-namespace", "default", "-id", "vm1", "-address", "/run/c.sock")
	vmDir := filepath.Join(nodePaths.VMRoot, "default", "vm-1")
	proc(4250, 4242, "/usr/bin/qemu-system-x86_64", "-smp", "1", "-m", "512", "-qmp", "unix:"+vmDir+"/qmp.sock")
	write(filepath.Join(vmDir, vmstate.QEMUPid), "4250")
	write(filepath.Join(vmDir, vmstate.ConsoleLog), "[    0.000000] Linux version 6.1\n")
	write(filepath.Join(vmDir, vmstate.AgentLog), "boot: agent on its root\n")
	if err := os.MkdirAll(filepath.Join(vmDir, vmstate.Share, "vm1"), 0o755); err != nil {
		t.Fatal(err)
	}
	proc(4343, 1, "/usr/local/bin/containerd-shim-winctr-v1", "-namespace", "default", "-id", "host1", "-address", "/run/c.sock")
	return root
}

func TestPsLogs(t *testing.T) {
	fakeNode(t)
	code, out, errb := runCLI(t, "ps")
	if code != 0 || !strings.Contains(out, "HOST PSS") {
		t.Fatalf("ps: %d %q %q", code, out, errb)
	}
	for _, want := range []string{"vm1    hypervisor  4242  4250    1      512 MB  4.0 MiB", "host1  process     4343  -"} {
		if !strings.Contains(out, want) {
			t.Errorf("ps lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "ps", "-o", "json")
	var pods []nodestate.Pod
	if err := json.Unmarshal([]byte(out), &pods); code != 0 || err != nil || len(pods) != 2 || pods[1].VM == nil || pods[1].HostPSS != 4<<20 {
		t.Errorf("ps -o json: %d %v %s", code, err, out)
	}
	code, out, _ = runCLI(t, "logs", "vm")
	if code != 0 || !strings.Contains(out, "Linux version 6.1") || !strings.Contains(out, "boot: agent on its root") {
		t.Errorf("logs: %d %q", code, out)
	}
	code, out, _ = runCLI(t, "logs", "-agent", "-o", "json", "vm1")
	if code != 0 || out != "{\n  \"agent\": \"boot: agent on its root\\n\"\n}\n" {
		t.Errorf("logs -agent -o json: %d %q", code, out)
	}
	if code, _, errb := runCLI(t, "logs", "host1"); code != 1 || !strings.Contains(errb, "host's kernel") {
		t.Errorf("logs of a host pod: %d %q", code, errb)
	}
	if code, _, errb := runCLI(t, "logs", "nope"); code != 1 || !strings.Contains(errb, "winctr ps") {
		t.Errorf("logs of no pod: %d %q", code, errb)
	}
}

// fakeShim serves a debug socket for the shim of pid.
func fakeShim(t *testing.T, pid int, h shimdebug.Handler) {
	t.Helper()
	if err := os.MkdirAll(debugDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", shimdebug.SocketPath(debugDir, pid))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go shimdebug.Serve(context.Background(), ln, h)
}

func TestStacksShell(t *testing.T) {
	fakeNode(t)
	fakeShim(t, 4242, func(ctx context.Context, req shimdebug.Request, s *shimdebug.Session) (int, error) {
		switch req.Op {
		case shimdebug.OpStacks:
			io.WriteString(s.Stdout, "goroutine 1 [running]:\nmain.main()\n")
		case shimdebug.OpAgentStacks:
			io.WriteString(s.Stdout, "goroutine 7 [select]:\nmain.serve()\n")
		case shimdebug.OpShell:
			if strings.Join(req.Args, " ") != "uname -r" || req.Terminal {
				return 0, errors.New("debug shells are off: set debug_shell = true in the runtime's options")
			}
			io.WriteString(s.Stdout, "6.1.0-41-cloud-amd64\n")
			return 0, nil
		}
		return 0, nil
	})
	code, out, errb := runCLI(t, "stacks", "vm1")
	if code != 0 || !strings.Contains(out, "==> shim 4242 (default/vm1) <==\ngoroutine 1 [running]:") || !strings.Contains(out, "==> guest agent <==\ngoroutine 7") {
		t.Errorf("stacks: %d %q %q", code, out, errb)
	}
	code, out, errb = runCLI(t, "shell", "vm1", "uname", "-r")
	if code != 0 || out != "6.1.0-41-cloud-amd64\n" {
		t.Errorf("shell: %d %q %q", code, out, errb)
	}
	code, out, _ = runCLI(t, "shell", "-o", "json", "vm1", "uname", "-r")
	if code != 0 || !strings.Contains(out, `"stdout": "6.1.0-41-cloud-amd64\n"`) {
		t.Errorf("shell -o json: %d %q", code, out)
	}
	code, _, errb = runCLI(t, "shell", "vm1", "sh")
	if code != 1 || !strings.Contains(errb, "the pod's shim refused: debug shells are off") {
		t.Errorf("refused shell: %d %q", code, errb)
	}
	if code, _, errb := runCLI(t, "stacks", "host1"); code != 1 || !strings.Contains(errb, "debug socket") {
		t.Errorf("stacks of a shim without a socket: %d %q", code, errb)
	}
}

func TestVersion(t *testing.T) {
	dir := t.TempDir()
	code, out, _ := runCLI(t, "version", "-o", "json", "-boot-files", dir)
	var v struct {
		AgentProtocol int `json:"agent_protocol"`
		BootFiles     struct {
			Dir   string `json:"dir"`
			Error string `json:"error"`
		} `json:"boot_files"`
	}
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v.AgentProtocol == 0 || v.BootFiles.Dir != dir || v.BootFiles.Error == "" {
		t.Errorf("version -o json: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "-v"); code != 0 || !strings.Contains(out, "Agent protocol:") {
		t.Errorf("-v: %d %q", code, out)
	}
}
