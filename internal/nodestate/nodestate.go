// Package nodestate finds a node's winctr pods from what their shims
// leave on the host, without containerd: the shim processes and their
// command lines, the VM state directories (QEMU's and virtiofsd's pid
// files, the share with a directory per container), the warm pools'
// entries and runc's state. The winctr command's ps, logs, stacks and
// shell start here.
package nodestate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/winctr/winctr/internal/vmstate"
)

// ShimBinary is the shim's executable name.
const ShimBinary = "containerd-shim-winctr-v1"

// Paths are where a node keeps what Scan reads; tests point them at a
// fake tree.
type Paths struct {
	Proc     string // /proc
	VMRoot   string // the VM state directories, <VMRoot>/<namespace>/vm-*
	PoolRoot string // the warm pools, <PoolRoot>/<pool>/<entry>
	// RuncRoot is runc's default state root, <RuncRoot>/<namespace>/<id>;
	// roots a runtime's options chose are found in its shims' bundles.
	RuncRoot string
}

// DefaultPaths are a Linux host's.
func DefaultPaths() Paths {
	return Paths{
		Proc:     "/proc",
		VMRoot:   vmstate.Root,
		PoolRoot: "/run/containerd/winctr/pool",
		RuncRoot: "/run/containerd/winctr/runc",
	}
}

// Isolation values of a Pod.
const (
	IsolationProcess    = "process"
	IsolationHypervisor = "hypervisor"
)

// Pod is one shim: a pod, or a task of its own, or a waiting pooled VM.
type Pod struct {
	Namespace string `json:"namespace"`
	// ID is the shim's id: the pod's sandbox id, or the task's id.
	ID        string `json:"id"`
	Isolation string `json:"isolation"`
	// Pooled marks a shim waiting in a warm pool with a booted VM.
	Pooled  bool      `json:"pooled,omitempty"`
	ShimPid int       `json:"shim_pid"`
	ShimPSS uint64    `json:"shim_pss_bytes"`
	Bundle  string    `json:"bundle,omitempty"`
	Started time.Time `json:"started"`
	VM      *VM       `json:"vm,omitempty"`
	// Containers are the ids of the pod's containers.
	Containers []string `json:"containers"`
	// HostPSS is the host memory the pod costs: the PSS of its shim,
	// QEMU and virtiofsd (not its containers' processes on the host).
	HostPSS uint64 `json:"host_pss_bytes"`
}

// VM is a pod's utility VM.
type VM struct {
	Dir          string    `json:"dir"`
	QEMUPid      int       `json:"qemu_pid"`
	VirtiofsdPid int       `json:"virtiofsd_pid,omitempty"`
	CPUs         int       `json:"vcpus"`
	MemoryMB     int       `json:"memory_mb"`
	QEMUPSS      uint64    `json:"qemu_pss_bytes"`
	VirtiofsdPSS uint64    `json:"virtiofsd_pss_bytes"`
	Started      time.Time `json:"started"`
}

// Scan lists the node's winctr shims, by namespace and id.
func Scan(p Paths) ([]Pod, error) {
	pr := proc{root: p.Proc}
	boot, err := pr.bootTime()
	if err != nil {
		return nil, err
	}
	started := func(s stat) time.Time {
		return boot.Add(time.Duration(s.startTick) * time.Second / clockTicks)
	}
	var pods []Pod
	byPid := map[int]int{} // shim pid -> index in pods
	for _, pid := range pr.pids() {
		if filepath.Base(pr.exe(pid)) != ShimBinary {
			continue
		}
		args := pr.cmdline(pid)
		ns, id := flag(args, "namespace"), flag(args, "id")
		if ns == "" || id == "" || flag(args, "address") == "" || hasAction(args) {
			continue // a bootstrap (start, delete) or a pause process
		}
		st, ok := pr.stat(pid)
		if !ok {
			continue
		}
		byPid[pid] = len(pods)
		pods = append(pods, Pod{Namespace: ns, ID: id, Isolation: IsolationProcess, ShimPid: pid,
			ShimPSS: pr.pss(pid), Bundle: pr.cwd(pid), Started: started(st), Containers: []string{}})
	}
	for _, vm := range scanVMs(pr, p.VMRoot, started) {
		i, ok := byPid[vm.parent]
		if !ok {
			continue
		}
		pods[i].Isolation = IsolationHypervisor
		pods[i].VM = &vm.VM
		pods[i].Containers = vm.containers
	}
	markPooled(p.PoolRoot, byPid, pods)
	addRuncContainers(pr, p.RuncRoot, byPid, pods)
	for i := range pods {
		pods[i].HostPSS = pods[i].ShimPSS
		if vm := pods[i].VM; vm != nil {
			pods[i].HostPSS += vm.QEMUPSS + vm.VirtiofsdPSS
		}
		slices.Sort(pods[i].Containers)
	}
	slices.SortFunc(pods, func(a, b Pod) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return pods, nil
}

// hasAction tells whether the shim was run with an action (start,
// delete), which containerd puts last: a bootstrap, gone in a moment,
// not a pod's shim.
func hasAction(args []string) bool {
	if len(args) < 2 {
		return false
	}
	last := args[len(args)-1]
	return last == "start" || last == "delete"
}

type foundVM struct {
	VM
	parent     int
	containers []string
}

// scanVMs reads every VM state directory whose QEMU still runs it.
func scanVMs(pr proc, root string, started func(stat) time.Time) []foundVM {
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "vm-*"))
	var vms []foundVM
	for _, dir := range dirs {
		pid := readPid(filepath.Join(dir, vmstate.QEMUPid))
		if pid == 0 || !slices.ContainsFunc(pr.cmdline(pid), func(a string) bool { return strings.Contains(a, dir) }) {
			continue // not running, or the pid was reused
		}
		st, ok := pr.stat(pid)
		if !ok {
			continue
		}
		args := pr.cmdline(pid)
		vm := foundVM{parent: st.ppid, VM: VM{Dir: dir, QEMUPid: pid, QEMUPSS: pr.pss(pid), Started: started(st)}}
		vm.CPUs, _ = strconv.Atoi(strings.Split(flag(args, "smp"), ",")[0])
		vm.MemoryMB, _ = strconv.Atoi(strings.TrimSuffix(strings.Split(flag(args, "m"), ",")[0], "M"))
		if fsd := readPid(filepath.Join(dir, vmstate.VirtiofsdPid)); fsd != 0 {
			if _, ok := pr.stat(fsd); ok {
				vm.VirtiofsdPid, vm.VirtiofsdPSS = fsd, pr.pss(fsd)
			}
		}
		vm.containers = shareContainers(filepath.Join(dir, vmstate.Share))
		vms = append(vms, vm)
	}
	return vms
}

// shareContainers are the containers with a directory in a VM's share;
// names starting with a dot are the shim's own.
func shareContainers(share string) []string {
	entries, _ := os.ReadDir(share)
	ids := []string{}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	return ids
}

// markPooled marks the shims waiting in a warm pool: an entry not yet
// claimed, whose pid file names the shim.
func markPooled(root string, byPid map[int]int, pods []Pod) {
	entries, _ := filepath.Glob(filepath.Join(root, "*", "*"))
	for _, e := range entries {
		if strings.HasPrefix(filepath.Base(e), "claimed-") {
			continue
		}
		if i, ok := byPid[readPid(filepath.Join(e, "pid"))]; ok {
			pods[i].Pooled = true
		}
	}
}

// runcState is what winctr reads of runc's state.json.
type runcState struct {
	ID      string `json:"id"`
	InitPid int    `json:"init_process_pid"`
}

// addRuncContainers gives each process-isolated shim the runc
// containers whose init it is the parent of (the shim is their
// subreaper), from the default root and the roots its bundle records.
func addRuncContainers(pr proc, root string, byPid map[int]int, pods []Pod) {
	roots := map[string]bool{}
	for _, pod := range pods {
		if pod.VM != nil {
			continue
		}
		roots[filepath.Join(root, pod.Namespace)] = true
		var s struct {
			RuncRoot string `json:"runc_root"`
		}
		if b, err := os.ReadFile(filepath.Join(pod.Bundle, "winctr-runc.json")); err == nil && json.Unmarshal(b, &s) == nil && s.RuncRoot != "" {
			roots[s.RuncRoot] = true
		}
	}
	for r := range roots {
		states, _ := filepath.Glob(filepath.Join(r, "*", "state.json"))
		for _, path := range states {
			b, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			var s runcState
			if json.Unmarshal(b, &s) != nil || s.InitPid == 0 {
				continue
			}
			st, ok := pr.stat(s.InitPid)
			if !ok {
				continue
			}
			if i, ok := byPid[st.ppid]; ok && pods[i].VM == nil && !slices.Contains(pods[i].Containers, s.ID) {
				pods[i].Containers = append(pods[i].Containers, s.ID)
			}
		}
	}
}

// Find returns the pod of id (and of namespace ns, if not empty); an id
// prefix that names one pod alone does too.
func Find(pods []Pod, ns, id string) (Pod, bool) {
	var match []Pod
	for _, p := range pods {
		if ns != "" && p.Namespace != ns {
			continue
		}
		if p.ID == id {
			return p, true
		}
		if strings.HasPrefix(p.ID, id) {
			match = append(match, p)
		}
	}
	if len(match) == 1 {
		return match[0], true
	}
	return Pod{}, false
}
