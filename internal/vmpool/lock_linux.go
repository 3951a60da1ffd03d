package vmpool

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Lock holds the pool's lock until the returned function is called: the
// count of entries and the spawning of new ones happen under it, so that
// concurrent starts do not overfill the pool.
func (p *Pool) Lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(p.dir, ".lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock pool: %w", err)
	}
	return func() { f.Close() }, nil
}
