package nodestate

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of a process's start time
// in /proc/<pid>/stat: 100 on every Linux architecture Go supports.
const clockTicks = 100

// proc reads processes from a /proc tree.
type proc struct {
	root string
}

func (p proc) path(pid int, name string) string {
	return filepath.Join(p.root, strconv.Itoa(pid), name)
}

// pids lists the processes.
func (p proc) pids() []int {
	entries, err := os.ReadDir(p.root)
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// exe is the process's executable, without the " (deleted)" the kernel
// adds when it was replaced on disk (a reinstall under running shims).
func (p proc) exe(pid int) string {
	l, err := os.Readlink(p.path(pid, "exe"))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(l, " (deleted)")
}

func (p proc) cmdline(pid int) []string {
	b, err := os.ReadFile(p.path(pid, "cmdline"))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

func (p proc) cwd(pid int) string {
	l, _ := os.Readlink(p.path(pid, "cwd"))
	return l
}

// stat is what winctr reads of /proc/<pid>/stat: the parent and the
// start time in clock ticks after boot.
type stat struct {
	ppid      int
	startTick uint64
}

func (p proc) stat(pid int) (stat, bool) {
	b, err := os.ReadFile(p.path(pid, "stat"))
	if err != nil {
		return stat{}, false
	}
	return parseStat(b)
}

// parseStat reads the fields after the command name, which is in
// parentheses and may hold spaces and parentheses itself.
func parseStat(b []byte) (stat, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): the parent is field 4, the start time 22.
	if len(f) < 20 {
		return stat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return stat{}, false
	}
	return stat{ppid: ppid, startTick: start}, true
}

// bootTime is when the host booted, from /proc/stat's btime.
func (p proc) bootTime() (time.Time, error) {
	f, err := os.Open(filepath.Join(p.root, "stat"))
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("btime %q: %w", v, err)
			}
			return time.Unix(s, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("no btime in %s", f.Name())
}

// pss is the process's proportional set size in bytes (its private
// memory and its share of what it shares), 0 if unknown.
func (p proc) pss(pid int) uint64 {
	b, err := os.ReadFile(p.path(pid, "smaps_rollup"))
	if err != nil {
		return 0
	}
	return parsePSS(b)
}

func parsePSS(b []byte) uint64 {
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// flag returns the value of -name (or --name) in args, as Go's flag
// package parses them: "-name value" or "-name=value".
func flag(args []string, name string) string {
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// readPid reads a pid file; 0 if absent or malformed.
func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
