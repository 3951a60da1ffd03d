// Package faultpoint marks the steps of a shim's life at which the fault
// suite kills it, so that each kill lands at a known step instead of at
// whatever a timer happens to hit.
//
// A shim whose environment has EnvDir (inherited from containerd) checks,
// at each named point, whether the file ArmedFile in that directory names
// the point; the first shim to reach the armed point writes "<pid> <point>"
// to ReachedFile and stops there for good, waiting for the kill. Without
// EnvDir every point is a no-op, so the shim under test is the shim that
// ships. Only root sets containerd's environment.
package faultpoint

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	// EnvDir names the directory holding the armed and reached files.
	EnvDir = "WINCTR_FAULTPOINTS"
	// ArmedFile holds the name of the one point to stop at.
	ArmedFile = "armed"
	// ReachedFile is written by the shim that stopped: "<pid> <point>".
	ReachedFile = "reached"
)

var dir = sync.OnceValue(func() string { return os.Getenv(EnvDir) })

// Reach is called at the point called name. It returns at once unless the
// fault suite armed this point, in which case it never returns; or, if
// the armed file says "<name> <duration>", returns after that long (a
// step made slow, such as an unmount outlasting containerd's wait), in
// every shim that passes it.
func Reach(name string) {
	d := dir()
	if d == "" {
		return
	}
	armed, err := os.ReadFile(filepath.Join(d, ArmedFile))
	if err != nil {
		return
	}
	point, delay, slow := strings.Cut(string(bytes.TrimSpace(armed)), " ")
	if point != name {
		return
	}
	if slow {
		if d, err := time.ParseDuration(strings.TrimSpace(delay)); err == nil {
			time.Sleep(d)
		}
		return
	}
	// O_EXCL: one shim stops per arming, even if several pass the point.
	f, err := os.OpenFile(filepath.Join(d, ReachedFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "%d %s\n", os.Getpid(), name)
	f.Close()
	select {}
}
