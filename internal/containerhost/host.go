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
// exec state machines itself (internal/task/process.go).
//
// The contracts below say, for each method, in which states of the
// process or container it names the service calls it: the service checks
// the state itself and answers containerd with the class given for every
// other state, without calling the Host. The states are a process's:
// created (by CreateContainer or Exec), running (Start returned), exited
// (Wait returned) and deleted (Delete returned); a container is deleted
// once its Delete returned. The service relies on no answer of a Host to
// a call outside its contract; a Host that checks states answers such a
// call with errdefs.ErrFailedPrecondition, and one on a deleted or
// vanished container or process with errdefs.ErrNotFound. Any other error
// within the contract means the Host itself failed (a VM that died): the
// service passes it on and keeps its state. The
// service's table test of these contracts is internal/task's
// TestSeamContracts.
type Host interface {
	// CreateContainer prepares a container and its init process without
	// starting the init process: the init is created.
	//
	// Contract: called once per task id before Close, with a spec
	// CheckSpec accepted (the service answers a second create of an id
	// with errdefs.ErrAlreadyExists itself); a spec the Host cannot run is
	// errdefs.ErrInvalidArgument. On error nothing of the container is
	// left behind.
	CreateContainer(ctx context.Context, req *ContainerRequest) (Container, error)
	// Close releases what the host holds (a VM, a network namespace).
	//
	// Contract: called once, after the last container of the pod was
	// deleted (or when the shim goes away); no method of the Host or of
	// its containers is called after it.
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

// Container is one container on a Host. "The init" below is its init
// process's state.
type Container interface {
	// Init returns the container's init process. It never fails.
	Init() Process
	// Exec prepares an additional process in the container without
	// starting it: the exec is created.
	//
	// Contract: called only while the init is running, with an exec id
	// the container does not hold (the service answers
	// errdefs.ErrFailedPrecondition in other states and
	// errdefs.ErrAlreadyExists for a held id).
	Exec(ctx context.Context, id string, spec *specs.Process, io stdio.Config) (Process, error)
	// Pause freezes every process of the container.
	//
	// Contract: called only while the init is running and the container
	// is not paused (errdefs.ErrFailedPrecondition in other states; a
	// second Pause is answered without calling it).
	Pause(ctx context.Context) error
	// Resume thaws a paused container.
	//
	// Contract: called only while the init is running and the container
	// is paused (errdefs.ErrFailedPrecondition in other states).
	Resume(ctx context.Context) error
	// Update applies new resource limits; resources is the Any that
	// containerd sent (LinuxResources for Linux containers).
	//
	// Contract: called in any state before the container's Delete
	// (errdefs.ErrNotFound after it); resources it cannot decode are
	// errdefs.ErrInvalidArgument.
	Update(ctx context.Context, resources *anypb.Any) error
	// Stats returns the container's metrics as the cgroups metrics types
	// containerd and CRI decode.
	//
	// Contract: called in any state before the container's Delete
	// (errdefs.ErrNotFound after it); a Host that keeps no metrics returns
	// errdefs.ErrNotImplemented.
	Stats(ctx context.Context) (*anypb.Any, error)
	// Pids lists the processes in the container.
	//
	// Contract: called only while the init is created or running; after
	// its exit the service answers errdefs.ErrFailedPrecondition (never an
	// empty list, which a restarting containerd takes for a task whose
	// create never finished).
	Pids(ctx context.Context) ([]*task.ProcessInfo, error)
	// OOM delivers a value each time the container hits its memory limit,
	// and is closed once the container is deleted (the task service's
	// forwarding ends with it); nil when the host cannot tell.
	//
	// Contract: called once, right after CreateContainer.
	OOM() <-chan struct{}
	// Delete removes the container and releases its rootfs.
	//
	// Contract: called once, after the init was deleted and no exec runs
	// (the service answers errdefs.ErrFailedPrecondition while the init or
	// an exec runs); every call on the container after it is
	// errdefs.ErrNotFound.
	Delete(ctx context.Context) error
}

// Process is one process of a container: its init or an exec.
type Process interface {
	// Pid is the process id as the host sees it; 0 before Start for execs.
	// It never fails.
	Pid() int
	// Start starts a created process: it is running once Start returned.
	//
	// Contract: called once, while the process is created, and for an
	// exec only while the init is running (errdefs.ErrFailedPrecondition
	// in every other state, errdefs.ErrNotFound once deleted).
	Start(ctx context.Context) error
	// Kill sends sig; all sends it to every process of the container.
	//
	// Contract: called while the process is created or running; a
	// created one is killed before its Delete. It may race with the
	// process's exit: a Host answers a signal to a process that has just
	// exited with nil or errdefs.ErrNotFound. After the exit was recorded
	// the service answers errdefs.ErrNotFound ("already finished") itself.
	Kill(ctx context.Context, sig syscall.Signal, all bool) error
	// ResizeTTY resizes the process's terminal.
	//
	// Contract: called in any state before the process's Delete
	// (errdefs.ErrNotFound after it); a process without a terminal, or
	// one that has exited, answers nil or errdefs.ErrNotFound.
	ResizeTTY(ctx context.Context, width, height uint32) error
	// CloseStdin closes the process's stdin (containerd's CloseIO).
	//
	// Contract: as ResizeTTY; closing a stdin twice, or one never
	// connected, is nil.
	CloseStdin(ctx context.Context) error
	// Wait blocks until the process has exited and all of its output has
	// been handed to containerd's side of stdio, or until ctx ends (then
	// ctx's error).
	//
	// Contract: called once per process by the service, after Start
	// returned, and the process is exited when it returns. Any other
	// error means the Host lost the process (its VM died): the service
	// records an exit by SIGKILL.
	Wait(ctx context.Context) (Exit, error)
	// Delete releases the process's resources (stdio, host state).
	//
	// Contract: called once, while the process is exited, or created
	// after a Kill (errdefs.ErrFailedPrecondition while it runs); every
	// call on the process after it is errdefs.ErrNotFound.
	Delete(ctx context.Context) error
}

// Exit is how a process ended.
type Exit struct {
	// Status is the exit code, or 128+n for death by signal n.
	Status int
	At     time.Time
}
