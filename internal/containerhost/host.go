// Package containerhost is the seam between the task service and the
// places where a pod's containers run (runc on the host kernel, the guest
// agent in a utility VM, HCS on Windows): the Host, Container and Process
// each place implements, what it is asked for, and the spec rules every
// place applies. It stays small, so that the guest agent, which runs
// containers through the same runc Host, links none of the service.
package containerhost

import (
	"context"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/api/types/task"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/winctr/winctr/internal/stdio"
)

// Host is the place where one pod's containers run: the host kernel through
// runc, or a utility VM through its guest agent. The task service never knows
// which; it drives every container through this seam and keeps the task and
// exec state machines itself.
type Host interface {
	// CreateContainer prepares a container and its init process without
	// starting the init process.
	CreateContainer(ctx context.Context, req *ContainerRequest) (Container, error)
	// Close releases what the host holds (a VM, a network namespace). It is
	// called once, after the last container of the pod was deleted.
	Close(ctx context.Context) error
}

// ContainerRequest is what a Host needs to create a container.
type ContainerRequest struct {
	Namespace string
	ID        string
	Bundle    string
	// Spec is the OCI spec read from the bundle, already validated.
	Spec *specs.Spec
	// Rootfs holds the mounts containerd prepared; empty when the bundle
	// already has a rootfs directory.
	Rootfs []*types.Mount
	Stdio  stdio.Config
}

// Container is one container on a Host.
type Container interface {
	// Init returns the container's init process.
	Init() Process
	// Exec prepares an additional process in the container without starting it.
	Exec(ctx context.Context, id string, spec *specs.Process, io stdio.Config) (Process, error)
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
	// Update applies new resource limits; resources is the Any that
	// containerd sent (LinuxResources for Linux containers).
	Update(ctx context.Context, resources *anypb.Any) error
	// Stats returns the container's metrics as the cgroups metrics types
	// containerd and CRI decode.
	Stats(ctx context.Context) (*anypb.Any, error)
	// Pids lists the processes in the container.
	Pids(ctx context.Context) ([]*task.ProcessInfo, error)
	// OOM delivers a value each time the container hits its memory limit,
	// and is closed once the container is deleted (the task service's
	// forwarding ends with it); nil when the host cannot tell.
	OOM() <-chan struct{}
	// Delete removes the container and releases its rootfs. The init process
	// has exited or was never started.
	Delete(ctx context.Context) error
}

// Process is one process of a container: its init or an exec.
type Process interface {
	// Pid is the process id as the host sees it; 0 before Start for execs.
	Pid() int
	Start(ctx context.Context) error
	// Kill sends sig; all sends it to every process of the container.
	Kill(ctx context.Context, sig syscall.Signal, all bool) error
	ResizeTTY(ctx context.Context, width, height uint32) error
	CloseStdin(ctx context.Context) error
	// Wait blocks until the process has exited and all of its output has
	// been handed to containerd's side of stdio, or until ctx ends.
	Wait(ctx context.Context) (Exit, error)
	// Delete releases the process's resources (stdio, host state).
	Delete(ctx context.Context) error
}

// Exit is how a process ended.
type Exit struct {
	// Status is the exit code, or 128+n for death by signal n.
	Status int
	At     time.Time
}
