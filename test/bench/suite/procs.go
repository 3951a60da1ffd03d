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

// pssKB is a process's proportional set size from smaps_rollup: its
// private pages plus its share of pages it maps with others.
func pssKB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "Pss:" {
			return strconv.ParseFloat(fields[1], 64)
		}
	}
	return 0, fmt.Errorf("no Pss in /proc/%d/smaps_rollup", pid)
}

// pssMB sums the PSS of pids, in MB.
func pssMB(pids ...int) (float64, error) {
	var kb float64
	for _, pid := range pids {
		v, err := pssKB(pid)
		if err != nil {
			return 0, err
		}
		kb += v
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
