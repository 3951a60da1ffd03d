//go:build linux || windows

package lcow

import (
	"context"

	"github.com/containerd/log"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/uvm"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// podVM is a pod's utility VM as the host OS runs it: QEMU with a
// virtio-fs share, a tap network and the pod's cgroup on Linux
// (host_linux.go), HCS with SCSI disks, shared layers and Plan9 on
// Windows (host_windows.go). The Host above it is the guest agent's
// client only: it boots the VM once per pod, brings each container's root
// in, records what the bundle needs, and closes the VM with the pod.
type podVM interface {
	// boot starts the VM for the pod (or gives the pod a VM booted ahead
	// for a pool) and returns once the guest is ready for containers: its
	// agent answers (dial opens it on the VM's session) and its shares and
	// network are set up. changed is called whenever what record returns
	// has changed, so that the bundle is written before anything the
	// delete bootstrap must find could be left behind. On error nothing
	// of the VM is left.
	boot(ctx context.Context, pod podPlace, dial dialAgent, changed func() error) error
	// attachRootfs brings a container's root and bind mounts into the
	// VM. rootfs is what the bundle records of them; release undoes it.
	attachRootfs(ctx context.Context, req *containerhost.ContainerRequest, g *guest) (rootfs string, release func(context.Context) error, err error)
	// record is the bundle's state for the delete bootstrap: the VM and
	// the container's rootfs ("" for none).
	record(rootfs string) state
	// session is the transport to the agent; nil before boot.
	session() *uvm.Session
	// exited is closed when the VM has stopped; nil before boot.
	exited() <-chan struct{}
	// stop stops the VM, forcibly if it does not go by itself, and
	// leaves the rest to close.
	stop(ctx context.Context) error
	// powerOff asks the guest to power off where the platform wants
	// that; the Host closes its agent client after it.
	powerOff(ctx context.Context)
	// close stops the VM and releases what the host side held for it.
	close(ctx context.Context) error
}

// podPlace is where a pod's VM runs: what its first container's spec or
// its sandbox request names.
type podPlace struct {
	// name names the VM: the pod's first container's or sandbox's id.
	name string
	// bundle records the VM for the delete bootstrap; "" for none.
	bundle string
	// netns is the pod's network namespace on a Linux host, cgroup its
	// host cgroup; hnsNamespace its network on a Windows host.
	netns, cgroup, hnsNamespace string
}

// dialAgent opens the agent API on a booted VM's session and waits for
// the agent's first answer; the agent's log then goes to logger.
type dialAgent func(ctx context.Context, s *uvm.Session, logger *log.Entry) (agent.AgentService, *agent.PingResponse, error)
