package task

import "github.com/winctr/winctr/internal/containerhost"

// The seam's types and names, as the service refers to them.
type (
	Host             = containerhost.Host
	HostFactory      = containerhost.HostFactory
	ContainerRequest = containerhost.ContainerRequest
	Container        = containerhost.Container
	Process          = containerhost.Process
	Exit             = containerhost.Exit
	SandboxRequest   = containerhost.SandboxRequest
	SandboxHost      = containerhost.SandboxHost
)

// CRI's annotations that tell a pod's sandbox from its containers.
const (
	AnnotationContainerType = containerhost.AnnotationContainerType
	AnnotationSandboxID     = containerhost.AnnotationSandboxID
	ContainerTypeSandbox    = containerhost.ContainerTypeSandbox
	ContainerTypeContainer  = containerhost.ContainerTypeContainer
)
