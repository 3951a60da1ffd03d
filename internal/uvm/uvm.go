// Package uvm is the utility VM of a hypervisor-isolated pod: its
// configuration, and the host side of the host<->guest transport. Drivers
// per hypervisor live beside it, in internal/uvmdriver (qemu on Linux hosts,
// hcs on Windows hosts), and import it.
package uvm

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/hashicorp/yamux"

	"github.com/winctr/winctr/internal/splice"
)

// Config is what a driver needs to boot a UVM.
type Config struct {
	// ID names the VM in logs and state paths.
	ID string
	// StateDir holds the VM's sockets; the caller removes it.
	StateDir string
	// Kernel and Initrd are the boot files.
	Kernel, Initrd string
	// CPUs and MemoryMB size the VM; 0 takes the driver's default.
	CPUs     int
	MemoryMB int
	// ShareDir, when set, is shared into the guest with virtio-fs under
	// the tag "share": the pod's containers' rootfs and volumes.
	ShareDir string
	// NICs are the VM's network interfaces, in order.
	NICs []NIC
	// Console receives the guest's serial console (the shim's log).
	Console io.Writer
	// Background runs the VM's processes at the lowest CPU priority: a VM
	// booted ahead for a pool must not slow the pods running now. Its
	// driver raises it again when a pod takes the VM.
	Background bool
	// Programs, kernel parameters and accelerator policy: the operator's.
	Host HostConfig
}

// HostConfig is how a host runs VMs, from the runtime's options: the
// hypervisor's and file-sharing daemon's programs (empty: the driver's
// defaults), kernel parameters added to the driver's, and whether the
// VM must have hardware acceleration rather than fall back to emulation.
type HostConfig struct {
	Hypervisor, FileServer string
	KernelParams           string
	RequireAcceleration    bool
}

// NIC is a network interface of the VM backed by a tap device the caller
// opened (in the pod's network namespace).
type NIC struct {
	// Tap is the open tap device; the driver hands it to the hypervisor.
	Tap *os.File
	// MAC is the guest interface's hardware address.
	MAC string
}

// TransportParam is the kernel command line parameter that tells the
// guest agent its channel: "vsock", or its virtio-serial port when absent.
const TransportParam = "winctr.transport"

// ModulesList is where, inside the initrd (the guest's root), the boot
// files builder lists the kernel modules every guest on QEMU loads, one
// path a line, in load order.
const ModulesList = "etc/winctr/modules"

// Suffixes of the initrd's module lists beyond ModulesList: the guest
// agent loads the list of its virtio bus (PCI, or MMIO on microvm), the
// vsock transport's when TransportParam says vsock, and on Hyper-V its
// own list alone. ModulesNetAdmin is loaded later, before the first
// container that may manage the guest's network (see gcs.Config).
const (
	ModulesPCI      = ".pci"
	ModulesMMIO     = ".mmio"
	ModulesVsock    = ".vsock"
	ModulesHyperV   = ".hyperv"
	ModulesNetAdmin = ".netadmin"
)

// HypervisorParam is the kernel command line parameter that names the
// hypervisor when it is not QEMU/KVM: "hyperv" makes the guest agent load
// the Hyper-V drivers (VMBus, hvsocket, storvsc) instead of virtio ones.
const HypervisorParam = "winctr.hypervisor"

// SCSIControllerGUID is the VMBus instance id of the SCSI controller that
// a Hyper-V host gives a Linux guest for container disks: the guest finds
// a disk by this id and its LUN, since the controller's number inside the
// guest is not fixed.
const SCSIControllerGUID = "721d67dd-0025-525d-b737-61e7efb9d605"

// VsockPort is the AF_VSOCK port the guest agent listens on when the VM
// has a vsock device.
const VsockPort = 1024

// Session is the host end of the channel to the guest agent: one stream
// for the agent API, one per stdio pipe of every process, one for the
// agent's log. Its streams are yamux streams over a virtio-serial port, or
// AF_VSOCK connections of their own where the host has vhost-vsock.
type Session struct {
	open  func() (net.Conn, error)
	done  <-chan struct{}
	close func() error
}

// YamuxConfig is the yamux configuration of both ends of a virtio-serial
// port. Keepalives are off: an emulated guest under load can take longer
// than yamux's ping timeout to answer, and a missed ping ends the session
// (every stream of the pod at once). The channel's life is the VM's: the
// host sees the VM exit, and each agent call has its own deadline. Writes
// get a minute before yamux gives up on the connection, for the same
// reason.
func YamuxConfig() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.ConnectionWriteTimeout = time.Minute
	return cfg
}

// NewSession starts the host (client) side of yamux on conn: a
// virtio-serial port's socket where the host has no vhost-vsock.
func NewSession(conn io.ReadWriteCloser) (*Session, error) {
	cfg := YamuxConfig()
	cfg.LogOutput = io.Discard
	s, err := yamux.Client(conn, cfg)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	return &Session{open: func() (net.Conn, error) { return s.Open() }, done: s.CloseChan(), close: s.Close}, nil
}

// NewDialSession makes each stream a connection of its own, made by dial
// (an AF_VSOCK connection to the guest). The session ends when done is
// closed: when the VM exits.
func NewDialSession(dial func() (net.Conn, error), done <-chan struct{}) *Session {
	return &Session{open: dial, done: done, close: func() error { return nil }}
}

// Open opens a new stream to the guest.
func (s *Session) Open() (net.Conn, error) {
	c, err := s.open()
	if err != nil {
		return nil, fmt.Errorf("open stream to guest: %w", err)
	}
	return c, nil
}

// OpenAPI opens a stream for the agent API (ttrpc).
func (s *Session) OpenAPI() (net.Conn, error) {
	return s.openWithHeader("api\n")
}

// OpenStdio opens the stream for stdio pipe fd (0, 1 or 2) of the process
// that the agent knows by key.
func (s *Session) OpenStdio(key string, fd int) (net.Conn, error) {
	return s.openWithHeader(fmt.Sprintf("stdio %s %d\n", key, fd))
}

// OpenPort opens a stream joined to a TCP connection the agent makes to
// port on the guest's loopback (127.0.0.1, else ::1): the guest's half of
// port-forwarding. It returns once the agent has connected; a port nobody
// listens on is ErrUnavailable, an agent that does not forward ports
// ErrNotImplemented. The stream half-closes as TCP does.
func (s *Session) OpenPort(port uint16) (net.Conn, error) {
	c, err := s.openWithHeader(fmt.Sprintf("port %d\n", port))
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(portAnswerTimeout))
	line, err := br.ReadString('\n')
	_ = c.SetReadDeadline(time.Time{})
	switch answer := strings.TrimSpace(line); {
	case err == io.EOF && line == "":
		c.Close()
		return nil, fmt.Errorf("the guest agent does not forward ports (boot files older than this shim): %w", errdefs.ErrNotImplemented)
	case err != nil:
		c.Close()
		return nil, fmt.Errorf("guest port %d: %w", port, err)
	case answer == "ok":
		return &portConn{Conn: c, r: br}, nil
	default:
		c.Close()
		return nil, fmt.Errorf("%s: %w", strings.TrimPrefix(answer, "error "), errdefs.ErrUnavailable)
	}
}

// portAnswerTimeout bounds the agent's answer to a port stream: its own
// connection attempt gives up sooner.
const portAnswerTimeout = 15 * time.Second

// portConn is a port stream past its answer line.
type portConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *portConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// CloseWrite ends the sending half, for a guest server that waits for
// the end of a request.
func (c *portConn) CloseWrite() error { return splice.CloseWrite(c.Conn) }

// OpenLogs opens the stream on which the agent writes its log lines.
func (s *Session) OpenLogs() (net.Conn, error) {
	return s.openWithHeader("logs\n")
}

// openWithHeader opens a stream and names what it is for, as the agent
// API's comment describes.
func (s *Session) openWithHeader(h string) (net.Conn, error) {
	c, err := s.Open()
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, h); err != nil {
		c.Close()
		return nil, fmt.Errorf("stream header: %w", err)
	}
	return c, nil
}

// Close ends the session and every yamux stream on it; vsock connections
// end with their users or with the VM.
func (s *Session) Close() error { return s.close() }

// Done is closed when the session ends (the VM died or the agent left).
func (s *Session) Done() <-chan struct{} { return s.done }
