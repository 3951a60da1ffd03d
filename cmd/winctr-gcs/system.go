//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"golang.org/x/sys/unix"
)

// mountSystem mounts what a PID 1 needs before anything else works.
func mountSystem() error {
	mounts := []struct {
		source, target, fstype string
		flags                  uintptr
		data                   string
	}{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, ""},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	// The links that udev makes on a full system: crun reads `update
	// --resources -` from /dev/stdin.
	for link, target := range map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, link); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("link %s: %w", link, err)
		}
	}
	// The kernel gave PID 1 the console before /dev existed; reopen it
	// so that what the agent writes reaches the serial log.
	if con, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
		_ = unix.Dup2(int(con.Fd()), 1)
		_ = unix.Dup2(int(con.Fd()), 2)
	}
	return nil
}

// reapZombies reaps every child and orphan of PID 1 through containerd's
// reaper, which also tells the runc host (and go-runc) their exit codes.
func reapZombies() {
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, unix.SIGCHLD)
	for range ch {
		_ = reaper.Reap()
	}
}

// loadModules loads the listed .ko files in order. A module the kernel
// already has (built in, or loaded) is not an error.
func loadModules(list string) ([]string, error) {
	f, err := os.Open(list)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var loaded []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		path := strings.TrimSpace(sc.Text())
		if path == "" {
			continue
		}
		if err := loadModule(path); err != nil {
			return loaded, err
		}
		loaded = append(loaded, strings.TrimSuffix(filepath.Base(path), ".ko"))
	}
	return loaded, sc.Err()
}

// moduleSet is a module list loaded on first need rather than at boot;
// once loaded, later calls cost a lock.
type moduleSet struct {
	list   string
	mu     sync.Mutex
	loaded bool
}

// load loads the list unless an earlier call did; a failure is tried
// again next time.
func (m *moduleSet) load() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loaded {
		return nil
	}
	start := uptime()
	mods, err := loadModules(m.list)
	if err != nil {
		return err
	}
	m.loaded = true
	logf("modules: %d of %s loaded (uptime %s to %s)", len(mods), m.list, start, uptime())
	return nil
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load module %s: %w", path, err)
	}
	return nil
}

// pageReportingOrder is the smallest block of free memory, as a page
// order (5: 128 KB), that the guest reports to the host through the
// balloon's free page reporting.
const pageReportingOrder = 5

// pageReportingParam is where the kernel takes that order at run time.
// The balloon's registration sets it to the pageblock order (2 MB), and
// the kernel reports only while a zone's free memory exceeds its low
// watermark by 32 blocks of that order: more than an idle small guest has
// free at all, so QEMU held every page of it. At order 5 the threshold is
// small enough for such a guest; lower orders returned no more
// (bench/results/design-measurements.md).
const pageReportingParam = "/sys/module/page_reporting/parameters/page_reporting_order"

// pageReportingDelay is how long after boot the order is lowered. At once,
// reporting a fresh guest's free memory in small blocks takes the guest's
// CPU while its first container starts, which slowed the cold start
// measurably; later, the guest pays for it once, mostly idle. The kernel
// reports after frees of blocks of the order, which an idle guest hardly
// makes: a compaction, which moves pages and frees blocks, sets it going
// (bench/results/design-measurements.md).
const pageReportingDelay = 10 * time.Second

// finerPageReporting lowers the free page reporting order; the balloon
// must have registered (its module is loaded), or the registration would
// reset it. A guest without the balloon has no reporting to tune.
func finerPageReporting() {
	if _, err := os.Stat(pageReportingParam); err != nil {
		return
	}
	if err := os.WriteFile(pageReportingParam, []byte(strconv.Itoa(pageReportingOrder)), 0); err != nil {
		logf("free page reporting order: %v", err)
		return
	}
	_ = os.WriteFile("/proc/sys/vm/compact_memory", []byte("1"), 0)
}

// findPort returns the device of the virtio-serial port with the given
// name, waiting for the driver to create it.
func findPort(name string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		entries, _ := os.ReadDir("/sys/class/virtio-ports")
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join("/sys/class/virtio-ports", e.Name(), "name"))
			if err == nil && strings.TrimSpace(string(b)) == name {
				return "/dev/" + e.Name(), nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no virtio-serial port named %q after %s", name, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
