// Package vmstate names the files of a utility VM's state directory,
// which the shim writes and the winctr command reads, and writes its
// logs with a bound on their size: the directory is in /run, in memory.
package vmstate

import (
	"os"
	"sync"
)

// Root holds the VM state directories, <Root>/<namespace>/vm-<random>.
const Root = "/run/containerd/winctr/vm"

// Files of a VM state directory.
const (
	QEMUPid      = "qemu.pid"
	VirtiofsdPid = "virtiofsd.pid"
	// Share is the directory shared into the guest: one directory per
	// container, named by its id.
	Share = "share"
	// ConsoleLog is the guest's serial console; AgentLog the guest
	// agent's log lines.
	ConsoleLog = "console.log"
	AgentLog   = "agent.log"
)

// LogLimit bounds each log file; the one before it is kept as .1.
const LogLimit = 256 << 10

// Log is a log file that, past its limit, starts over and keeps the
// previous as <path>.1, so a VM's logs hold at most twice the limit.
type Log struct {
	path  string
	limit int64

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenLog creates (truncating) the log at path.
func OpenLog(path string, limit int64) (*Log, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	return &Log{path: path, limit: limit, f: f}, nil
}

// Write appends b, rotating first when b would pass the limit. A write
// that fails is dropped: a log must not stop the VM's console.
func (l *Log) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return len(b), nil
	}
	if l.size > 0 && l.size+int64(len(b)) > l.limit {
		l.f.Close()
		_ = os.Rename(l.path, l.path+".1")
		f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			l.f = nil
			return len(b), nil
		}
		l.f, l.size = f, 0
	}
	n, _ := l.f.Write(b)
	l.size += int64(n)
	return len(b), nil
}

// Close closes the file; later writes are dropped.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
