//go:build linux

package nodestate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/winctr/winctr/internal/lcow"
	"github.com/winctr/winctr/internal/runchost"
	"github.com/winctr/winctr/internal/vmpool"
	"github.com/winctr/winctr/internal/vmstate"
)

// fakeNode builds a /proc and /run tree.
type fakeNode struct {
	t     *testing.T
	paths Paths
}

func newFakeNode(t *testing.T) *fakeNode {
	root := t.TempDir()
	p := Paths{Proc: filepath.Join(root, "proc"), VMRoot: filepath.Join(root, "vm"),
		PoolRoot: filepath.Join(root, "pool"), RuncRoot: filepath.Join(root, "runc")}
	n := &fakeNode{t: t, paths: p}
	n.write(filepath.Join(p.Proc, "stat"), "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n")
	return n
}

func (n *fakeNode) write(path, body string) {
	n.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

// process adds a process: exe, command line, parent, start tick, PSS in kB.
func (n *fakeNode) process(pid int, exe string, args []string, ppid int, startTick uint64, pssKB int, cwd string) {
	n.t.Helper()
	dir := filepath.Join(n.paths.Proc, fmt.Sprint(pid))
	n.write(filepath.Join(dir, "cmdline"), strings.Join(append([]string{exe}, args...), "\x00")+"\x00")
	// The command name may hold spaces and parentheses.
	fields := []string{"S", fmt.Sprint(ppid)}
	for i := 5; i <= 21; i++ {
		fields = append(fields, "0")
	}
	fields = append(fields, fmt.Sprint(startTick), "0", "0")
	n.write(filepath.Join(dir, "stat"), fmt.Sprintf("%d (a b) c) %s\n", pid, strings.Join(fields, " ")))
	n.write(filepath.Join(dir, "smaps_rollup"), fmt.Sprintf("00400000-7ffd [rollup]\nRss:  99999 kB\nPss:  %d kB\nPss_Anon: 1 kB\n", pssKB))
	if err := os.Symlink(exe, filepath.Join(dir, "exe")); err != nil {
		n.t.Fatal(err)
	}
	if cwd != "" {
		if err := os.Symlink(cwd, filepath.Join(dir, "cwd")); err != nil {
			n.t.Fatal(err)
		}
	}
}

const shimExe = "/usr/local/bin/" + ShimBinary

func shimArgs(ns, id string) []string {
	return []string{"-namespace", ns, "-id", id, "-address", "/run/containerd/containerd.sock"}
}

func TestScan(t *testing.T) {
	n := newFakeNode(t)
	// A host pod (CRI: two containers, one exited) and a task of its own.
	n.process(100, shimExe, shimArgs("k8s.io", "pod1"), 1, 1000, 12000, "/b/pod1")
	n.process(101, "/pause", nil, 100, 1001, 300, "")
	n.process(102, "/bin/sh", nil, 100, 1002, 300, "")
	for id, pid := range map[string]int{"pod1": 101, "web": 102, "gone": 999} {
		n.write(filepath.Join(n.paths.RuncRoot, "k8s.io", id, "state.json"), fmt.Sprintf(`{"id":%q,"init_process_pid":%d}`, id, pid))
	}
	// A VM pod whose QEMU and virtiofsd run, with the shim's own entry in
	// the share; replaced on disk since it started.
	n.process(200, shimExe+" (deleted)", append(shimArgs("default", "vm1"), "-debug"), 1, 5000, 20000, "/b/vm1")
	vmDir := filepath.Join(n.paths.VMRoot, "default", "vm-123")
	n.process(201, "/usr/bin/qemu-system-x86_64", []string{"-name", "winctr-vm-123", "-smp", "2", "-m", "384",
		"-qmp", "unix:" + vmDir + "/qmp.sock,server=on,wait=off"}, 200, 5100, 50000, "")
	n.process(202, "/usr/lib/qemu/virtiofsd", []string{"--fd=3", "-o", "source=" + vmDir + "/share"}, 200, 5101, 3000, "")
	n.write(filepath.Join(vmDir, vmstate.QEMUPid), "201")
	n.write(filepath.Join(vmDir, vmstate.VirtiofsdPid), "202")
	for _, d := range []string{"c1", "c2", ".debug-1"} {
		if err := os.MkdirAll(filepath.Join(vmDir, vmstate.Share, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A stale VM directory whose pid was reused by something else.
	stale := filepath.Join(n.paths.VMRoot, "default", "vm-old")
	n.write(filepath.Join(stale, vmstate.QEMUPid), "102")
	// A pooled shim waiting with its VM.
	n.process(300, shimExe, shimArgs("default", "pool-abc"), 1, 6000, 15000, "/b/x")
	pvm := filepath.Join(n.paths.VMRoot, "default", "vm-pool")
	n.process(301, "/usr/bin/qemu-system-x86_64", []string{"-smp", "1", "-m", "512", "-kernel", pvm + "/k"}, 300, 6001, 40000, "")
	n.write(filepath.Join(pvm, vmstate.QEMUPid), "301")
	n.write(filepath.Join(n.paths.PoolRoot, "0123", "pool-abc", "pid"), "300")
	// Not pods: a start bootstrap, a pause process, something else.
	n.process(400, shimExe, append(shimArgs("default", "x"), "start"), 1, 7000, 1, "")
	n.process(401, shimExe, []string{"pause"}, 1, 7000, 1, "")
	n.process(402, "/usr/bin/containerd", shimArgs("default", "y"), 1, 7000, 1, "")

	pods, err := Scan(n.paths)
	if err != nil {
		t.Fatal(err)
	}
	boot := time.Unix(1700000000, 0)
	want := []Pod{
		{Namespace: "default", ID: "pool-abc", Isolation: IsolationHypervisor, Pooled: true, ShimPid: 300, ShimPSS: 15000 << 10,
			Bundle: "/b/x", Started: boot.Add(60 * time.Second), Containers: []string{},
			VM:      &VM{Dir: pvm, QEMUPid: 301, CPUs: 1, MemoryMB: 512, QEMUPSS: 40000 << 10, Started: boot.Add(60010 * time.Millisecond)},
			HostPSS: (15000 + 40000) << 10},
		{Namespace: "default", ID: "vm1", Isolation: IsolationHypervisor, ShimPid: 200, ShimPSS: 20000 << 10,
			Bundle: "/b/vm1", Started: boot.Add(50 * time.Second), Containers: []string{"c1", "c2"},
			VM: &VM{Dir: vmDir, QEMUPid: 201, VirtiofsdPid: 202, CPUs: 2, MemoryMB: 384, QEMUPSS: 50000 << 10,
				VirtiofsdPSS: 3000 << 10, Started: boot.Add(51 * time.Second)},
			HostPSS: (20000 + 50000 + 3000) << 10},
		{Namespace: "k8s.io", ID: "pod1", Isolation: IsolationProcess, ShimPid: 100, ShimPSS: 12000 << 10,
			Bundle: "/b/pod1", Started: boot.Add(10 * time.Second), Containers: []string{"pod1", "web"}, HostPSS: 12000 << 10},
	}
	got, _ := json.MarshalIndent(pods, "", " ")
	exp, _ := json.MarshalIndent(want, "", " ")
	if string(got) != string(exp) {
		t.Errorf("Scan:\n%s\nwant:\n%s", got, exp)
	}

	for _, tc := range []struct {
		ns, id, want string
	}{
		{"", "vm1", "vm1"}, {"", "pod", "pod1"}, {"default", "pod1", ""}, {"", "p", ""}, {"", "v", "vm1"},
	} {
		p, ok := Find(pods, tc.ns, tc.id)
		if ok != (tc.want != "") || p.ID != tc.want {
			t.Errorf("Find(%q, %q) = %q, %v; want %q", tc.ns, tc.id, p.ID, ok, tc.want)
		}
	}
}

func TestScanWithoutProc(t *testing.T) {
	if _, err := Scan(Paths{Proc: t.TempDir()}); err == nil {
		t.Error("no btime, no error")
	}
}

func TestDefaultsAgree(t *testing.T) {
	d := DefaultPaths()
	if d.RuncRoot != runchost.DefaultRoot || d.PoolRoot != vmpool.Root || d.VMRoot != lcow.StateRoot {
		t.Errorf("paths %+v differ from the shim's", d)
	}
}

func TestParsePSS(t *testing.T) {
	if got := parsePSS([]byte("Rss: 10 kB\nPss:    2048 kB\n")); got != 2048<<10 {
		t.Errorf("parsePSS = %d", got)
	}
	if got := parsePSS([]byte("Rss: 10 kB\n")); got != 0 {
		t.Errorf("parsePSS without Pss = %d", got)
	}
}
