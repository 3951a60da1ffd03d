package lcow

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// podCgroup is the host cgroup of a VM pod's sandbox, which holds the
// VM's processes (QEMU, virtiofsd). containerd's CRI reads a pod's stats
// from its cgroup on the host, and the kubelet accounts the pod there: in
// a VM pod that is what the VM costs the host.
type podCgroup struct {
	path string
	v1   cgroup1.Cgroup
	v2   *cgroup2.Manager
}

// newPodCgroup creates the cgroup at path (a cgroupfs path, as CRI's
// cgroupfs driver gives the sandbox). systemd's slice:prefix:name form is
// not handled here.
func newPodCgroup(path string) (*podCgroup, error) {
	if path == "" || strings.Contains(path, ":") {
		return nil, fmt.Errorf("cgroups path %q is not a cgroupfs path", path)
	}
	if cgroups.Mode() == cgroups.Unified {
		m, err := cgroup2.NewManager("/sys/fs/cgroup", path, &cgroup2.Resources{})
		if err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", path, err)
		}
		return &podCgroup{path: path, v2: m}, nil
	}
	cg, err := cgroup1.New(cgroup1.StaticPath(path), &specs.LinuxResources{})
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	return &podCgroup{path: path, v1: cg}, nil
}

// add moves a process (all its threads) into the cgroup.
func (c *podCgroup) add(pid int) error {
	if c.v2 != nil {
		return c.v2.AddProc(uint64(pid))
	}
	return c.v1.Add(cgroup1.Process{Pid: pid})
}

// delete removes the cgroup once its processes are gone.
func (c *podCgroup) delete() error {
	if c.v2 != nil {
		return c.v2.Delete()
	}
	err := c.v1.Delete()
	if errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return nil
	}
	return err
}

// removePodCgroup removes a pod cgroup a dead shim left. The VM's processes
// were just killed and may take a moment to leave it (rmdir says EBUSY
// until then).
func removePodCgroup(path string) error {
	var err error
	for i := 0; i < 20; i++ {
		var cg *podCgroup
		if cgroups.Mode() == cgroups.Unified {
			m, lerr := cgroup2.Load(path)
			if lerr != nil {
				return nil
			}
			cg = &podCgroup{v2: m}
		} else {
			c, lerr := cgroup1.Load(cgroup1.StaticPath(path))
			if lerr != nil {
				return nil // gone already
			}
			cg = &podCgroup{v1: c}
		}
		if err = cg.delete(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("remove pod cgroup %s: %w", path, err)
}
