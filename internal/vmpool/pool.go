// Package vmpool is the on-disk side of a warm pool of utility VMs: a
// directory per pool, an entry per waiting shim whose VM is booting or
// booted, and the claim that hands one entry to one new pod, so that
// concurrent start bootstraps agree without a daemon; and the pool's life
// on both sides: a start's Plan (take a waiting shim, refill the pool) and
// a pooled shim's Waiter (boot, wait, be adopted, hand the VM on). The
// shim processes and the VMs themselves are the caller's (Plan.Spawn, VM).
//
// An entry is a directory named by its shim's id. Its files:
//
//	containerd  the address of the containerd the pool serves
//	pid         the waiting shim's pid
//	address     the shim's ttrpc socket address
//	ready       present once the VM answers: the entry may be claimed
//	ctl.sock    where the shim takes its pod (see Adopt)
//
// Claiming renames the entry to "claimed-<id>", which one claimer wins.
package vmpool

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// Root holds the pools of a host.
const Root = "/run/containerd/winctr/pool"

// Entry files.
const (
	ContainerdFile = "containerd"
	PidFile        = "pid"
	AddressFile    = "address"
	ReadyFile      = "ready"
	CtlSocket      = "ctl.sock"
)

// claimedPrefix marks an entry taken by a pod.
const claimedPrefix = "claimed-"

// Key names the pool of VMs that fit one configuration: the parts are
// whatever must be equal for a VM to be interchangeable (containerd's
// address, namespace, shim binary, boot files, VM size).
func Key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Pool is one pool's directory.
type Pool struct {
	dir string
}

// Open returns the pool under root for key, making its directory.
func Open(root, key string) (*Pool, error) {
	dir := filepath.Join(root, key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pool directory: %w", err)
	}
	return &Pool{dir: dir}, nil
}

// Dir is the pool's directory.
func (p *Pool) Dir() string { return p.dir }

// Entry is one waiting shim of the pool.
type Entry struct {
	// ID is the shim's id; Dir the entry's directory.
	ID, Dir string
	// Pid is the shim's process, 0 if not recorded yet.
	Pid int
	// Ready tells that the shim's VM is booted.
	Ready bool
}

// NewEntry makes the directory of a new entry with a fresh id.
func (p *Pool) NewEntry() (*Entry, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	id := "pool-" + hex.EncodeToString(b)
	dir := filepath.Join(p.dir, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pool entry: %w", err)
	}
	return &Entry{ID: id, Dir: dir}, nil
}

// WriteFile writes one of the entry's files.
func (e *Entry) WriteFile(name, value string) error {
	return os.WriteFile(filepath.Join(e.Dir, name), []byte(value), 0o600)
}

// ReadFile reads one of the entry's files.
func (e *Entry) ReadFile(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(e.Dir, name))
	return string(b), err
}

// RemoveEntry removes the entry whose directory was dir, claimed since or
// not: a shim that leaves unadopted takes its entry with it.
func RemoveEntry(dir string) error {
	claimed := filepath.Join(filepath.Dir(dir), claimedPrefix+filepath.Base(dir))
	return errors.Join(os.RemoveAll(dir), os.RemoveAll(claimed))
}

// MarkReady tells claimers that the entry in dir has its VM booted.
func MarkReady(dir string) error {
	return os.WriteFile(filepath.Join(dir, ReadyFile), nil, 0o600)
}

// Scan lists the pool's unclaimed entries, the live ones apart from those
// whose shim is gone (for the caller to clean up and remove). An entry
// whose pid is not recorded yet is being spawned under the lock, and
// counts as live.
func (p *Pool) Scan() (live, dead []Entry, err error) {
	des, err := os.ReadDir(p.dir)
	if err != nil {
		return nil, nil, err
	}
	for _, de := range des {
		if !de.IsDir() || strings.HasPrefix(de.Name(), claimedPrefix) {
			continue
		}
		e := Entry{ID: de.Name(), Dir: filepath.Join(p.dir, de.Name())}
		if s, err := e.ReadFile(PidFile); err == nil {
			e.Pid, _ = strconv.Atoi(strings.TrimSpace(s))
		}
		_, err := os.Stat(filepath.Join(e.Dir, ReadyFile))
		e.Ready = err == nil
		if e.Pid != 0 && !Alive(e.Pid, e.ID) {
			dead = append(dead, e)
			continue
		}
		live = append(live, e)
	}
	return live, dead, nil
}

// Claim takes one ready entry with a live shim for the caller: renamed so
// that no other claimer can take it. errdefs.ErrNotFound when none waits.
func (p *Pool) Claim() (*Entry, error) {
	live, _, err := p.Scan()
	if err != nil {
		return nil, err
	}
	for _, e := range live {
		if !e.Ready || e.Pid == 0 {
			continue
		}
		to := filepath.Join(p.dir, claimedPrefix+e.ID)
		if err := os.Rename(e.Dir, to); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // another claimer won it
			}
			return nil, fmt.Errorf("claim pool entry: %w", err)
		}
		e.Dir = to
		return &e, nil
	}
	return nil, fmt.Errorf("no booted VM waits in the pool: %w", errdefs.ErrNotFound)
}

// Alive tells whether pid is still the shim of entry id: its command line
// names the id, so that a recycled pid is not taken for it. A process
// caught in its exec shows an empty command line for a moment: that is
// read again.
func Alive(pid int, id string) bool {
	path := filepath.Join("/proc", strconv.Itoa(pid), "cmdline")
	for try := 0; ; try++ {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		if len(b) == 0 && try < 20 {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		for _, arg := range strings.Split(string(b), "\x00") {
			if arg == id {
				return true
			}
		}
		return false
	}
}
