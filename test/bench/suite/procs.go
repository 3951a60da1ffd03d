//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procs is a snapshot of the host's processes: command lines and parents.
type procs struct {
	args   map[int][]string
	parent map[int]int
}

func snapshot() procs {
	p := procs{args: map[int][]string{}, parent: map[int]int{}}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		p.args[pid] = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// After the command name in parentheses: state, then the parent.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 {
			p.parent[pid], _ = strconv.Atoi(fields[1])
		}
	}
	return p
}

// shim finds the long-lived shim (not a start or delete bootstrap) that
// containerd at socket started for the task id.
func (p procs) shim(binary, socket, id string) (int, error) {
	for pid, args := range p.args {
		if len(args) == 0 || filepath.Base(args[0]) != binary {
			continue
		}
		if flagValue(args, "-address") == socket && flagValue(args, "-id") == id &&
			args[len(args)-1] != "start" && args[len(args)-1] != "delete" {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no %s for task %s", binary, id)
}

// shims lists the long-lived shims of binary serving containerd at socket.
func (p procs) shims(binary, socket string) []int {
	var out []int
	for pid, args := range p.args {
		if len(args) > 0 && filepath.Base(args[0]) == binary && flagValue(args, "-address") == socket {
			out = append(out, pid)
		}
	}
	return out
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// tree is pid and all its descendants.
func (p procs) tree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		for child, parent := range p.parent {
			if parent == out[i] {
				out = append(out, child)
			}
		}
	}
	return out
}

// pssMB sums the PSS of pids, in MB.
func pssMB(pids ...int) (float64, error) {
	var kb float64
	for _, pid := range pids {
		m, err := rollup(pid)
		if err != nil {
			return 0, err
		}
		kb += m.pss
	}
	return kb / 1024, nil
}

// memAvailableMB is the kernel's estimate of memory available for new
// work: what a set of pods costs the host shows as its drop.
func memAvailableMB() (float64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemAvailable:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no MemAvailable in /proc/meminfo")
}

// cpuTicks is the CPU time (user and system, in clock ticks) that pid and
// its threads used so far, 0 if it is gone.
func cpuTicks(pid int) int64 {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// After the command name: utime and stime are the 12th and 13th.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	s, _ := strconv.ParseInt(fields[12], 10, 64)
	return u + s
}

// procMem is a process's memory as a user sees it, in kB: RSS counts every
// resident page it maps, PSS divides each among the processes mapping it,
// USS (its private pages) is what ending it would give back.
type procMem struct {
	rss, pss, uss float64
}

// rollup reads pid's smaps_rollup.
func rollup(pid int) (procMem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return procMem{}, err
	}
	defer f.Close()
	var m procMem
	seen := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Rss:":
			m.rss, seen = v, seen+1
		case "Pss:":
			m.pss, seen = v, seen+1
		case "Private_Clean:", "Private_Dirty:":
			m.uss += v
			seen++
		}
	}
	if seen < 4 {
		return procMem{}, fmt.Errorf("/proc/%d/smaps_rollup lacks Rss, Pss or Private_*", pid)
	}
	return m, sc.Err()
}

// mapping is one line of /proc/pid/smaps with its sizes in kB.
type mapping struct {
	perms, name    string
	size, rss, pss float64
}

// mappings reads pid's smaps.
func mappings(pid int) ([]mapping, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		// A mapping's header starts with its address range; the lines of
		// sizes after it start with a name and a colon.
		if !strings.HasSuffix(fields[0], ":") && strings.Contains(fields[0], "-") {
			m := mapping{}
			if len(fields) > 1 {
				m.perms = fields[1]
			}
			if len(fields) > 5 {
				m.name = strings.Join(fields[5:], " ")
			}
			out = append(out, m)
			continue
		}
		if len(out) == 0 || len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			continue
		}
		m := &out[len(out)-1]
		switch fields[0] {
		case "Size:":
			m.size = v
		case "Rss:":
			m.rss = v
		case "Pss:":
			m.pss = v
		}
	}
	return out, sc.Err()
}

// guestRAM tells a utility VM's RAM among a QEMU or virtiofsd mapping:
// the shared memory backend virtio-fs needs, or else the anonymous
// mapping of the guest's size.
func guestRAM(m mapping, guestKB float64) bool {
	return strings.Contains(m.name, "memory-backend") || (m.name == "" && m.size == guestKB)
}

// tcgBuffer tells TCG's translated code among QEMU's mappings: the one
// anonymous mapping that is writable and executable. KVM has none.
func tcgBuffer(m mapping) bool {
	return m.name == "" && m.perms == "rwxp"
}

// podMem is where one VM pod's host memory goes, in MB.
type podMem struct {
	// guestRAM: the guest's pages resident in the memory backend (RSS of
	// its mapping, which QEMU and virtiofsd share).
	guestRAM float64
	// tcg: TCG's code buffer (resident), zero under KVM.
	tcg float64
	// qemu, virtiofsd, shim: each process's PSS less its mappings of the
	// guest's RAM and the TCG buffer.
	qemu, virtiofsd, shim float64
}

func (m podMem) total() float64 { return m.guestRAM + m.tcg + m.qemu + m.virtiofsd + m.shim }

// podMemory splits the memory of the pod whose shim is shim by where it
// goes. Processes other than QEMU and virtiofsd under the shim count as
// the shim's.
func (p procs) podMemory(shim int, guestMB int) (podMem, error) {
	var out podMem
	guestKB := float64(guestMB) * 1024
	for _, pid := range p.tree(shim) {
		maps, err := mappings(pid)
		if err != nil {
			return podMem{}, err
		}
		var own, ram, tcg float64
		for _, m := range maps {
			switch {
			case guestRAM(m, guestKB):
				ram = max(ram, m.rss)
			case tcgBuffer(m):
				tcg += m.rss
			default:
				own += m.pss
			}
		}
		name := ""
		if args := p.args[pid]; len(args) > 0 {
			name = filepath.Base(args[0])
		}
		switch {
		case strings.HasPrefix(name, "qemu-system"):
			out.qemu += own / 1024
			out.tcg += tcg / 1024
			out.guestRAM = max(out.guestRAM, ram/1024)
		case name == "virtiofsd":
			out.virtiofsd += (own + tcg) / 1024
			out.guestRAM = max(out.guestRAM, ram/1024)
		default:
			out.shim += (own + ram + tcg) / 1024
		}
	}
	return out, nil
}
