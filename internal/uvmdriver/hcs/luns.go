package hcs

import (
	"fmt"
	"sync"

	"github.com/containerd/errdefs"
)

// MaxLUNs is how many disks one Hyper-V SCSI controller takes.
const MaxLUNs = 64

// LUNs hands out the free LUNs of one SCSI controller of a utility VM,
// lowest first, so that a detached disk's LUN is used again.
type LUNs struct {
	mu   sync.Mutex
	used map[int32]bool
}

// NewLUNs returns the LUNs of a controller with reserved already taken
// (a VM's own scratch at 0, say).
func NewLUNs(reserved ...int32) *LUNs {
	l := &LUNs{used: map[int32]bool{}}
	for _, r := range reserved {
		l.used[r] = true
	}
	return l
}

// Take returns the lowest free LUN, marked used.
func (l *LUNs) Take() (int32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for lun := int32(0); lun < MaxLUNs; lun++ {
		if !l.used[lun] {
			l.used[lun] = true
			return lun, nil
		}
	}
	return 0, fmt.Errorf("all %d LUNs of the SCSI controller are in use: %w", MaxLUNs, errdefs.ErrResourceExhausted)
}

// Free gives a LUN back.
func (l *LUNs) Free(lun int32) {
	l.mu.Lock()
	delete(l.used, lun)
	l.mu.Unlock()
}
