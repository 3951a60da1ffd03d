//go:build linux

// Package qemu is the UVM driver for Linux hosts: QEMU with direct kernel
// boot, KVM when /dev/kvm is usable and TCG emulation otherwise, QMP for
// control, and the agent channel on AF_VSOCK where the host has
// vhost-vsock, on a virtio-serial port otherwise.
package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/digitalocean/go-qemu/qmp"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/uvm"
)

// Defaults for a VM whose size is not given.
const (
	DefaultCPUs     = 1
	DefaultMemoryMB = 512
)

// agentPort is the virtio-serial port name the guest agent looks for.
const agentPort = "agent"

// Binary is the QEMU system emulator to run.
var Binary = "qemu-system-x86_64"

// VM is one running QEMU.
type VM struct {
	cfg     uvm.Config
	cmd     *exec.Cmd
	fsd     *exec.Cmd // virtiofsd, when the VM has a share
	fsdDone chan struct{}
	// qemuGone is set once QEMU has exited, before virtiofsd is ended
	// with it.
	qemuGone atomic.Bool
	qmpPath  string
	session  *uvm.Session
	exited   chan struct{}
	waitErr  error
}

// KVM tells whether this host can run VMs with KVM; without it QEMU
// emulates the CPU (TCG), which works everywhere but is slow.
func KVM() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// Machine is a QEMU machine type and the bus its virtio devices sit on.
type Machine struct {
	// Name is QEMU's machine type.
	Name string
	// Bus is the suffix of the virtio devices' QEMU names: "pci" on a PC
	// machine, "device" on a virtio-mmio one.
	Bus string
}

// Q35 is a PC with PCIe: firmware, ACPI tables and a PCI bus to probe.
var Q35 = Machine{Name: "q35", Bus: "pci"}

// DefaultMachine is what the driver boots. Not microvm, though it has
// less firmware and no PCI to probe: under TCG its kernel calibrates the
// TSC against the PIT alone (it has no HPET or PM timer), and on a busy
// host that calibration fails and the boot hangs; q35 falls back to its
// HPET.
var DefaultMachine = Q35

// device names a virtio device of kind (virtio-serial, vhost-user-fs, ...)
// for the machine's bus.
func (m Machine) device(kind string) string { return kind + "-" + m.Bus }

// noOptionROM is the device property that leaves out a PCI NIC's option
// ROM: the firmware would load and run its iPXE network boot code in every
// cold boot, for a guest that boots from the kernel QEMU hands it. MMIO
// devices have no ROM.
func (m Machine) noOptionROM() string {
	if m.Bus == "pci" {
		return ",romfile="
	}
	return ""
}

// TCGCacheMB caps TCG's translation cache (QEMU's tb-size), in MB. QEMU
// reserves far more by default, and every page of it that the translator
// fills stays resident in the QEMU process until the VM ends. The cap is
// the smallest that holds what a boot and a container start translate, so
// the cache is not flushed during boot; the measurements that chose it
// are in bench/results/design-measurements.md.
const TCGCacheMB = 64

// MachineArgs are QEMU's machine and CPU flags for a VM on m.
func MachineArgs(m Machine, kvm bool) []string {
	if kvm {
		return []string{"-machine", m.Name + ",accel=kvm", "-cpu", "host"}
	}
	// -accel, not -machine's accel=: only -accel takes the accelerator's
	// properties (and QEMU refuses the two together).
	return []string{"-machine", m.Name, "-accel", "tcg,tb-size=" + strconv.Itoa(TCGCacheMB), "-cpu", "max"}
}

// KernelCmdline is the guest kernel's command line before the driver adds
// its channel parameters. Past
// the console, it skips work a utility VM has no use for: probing a
// keyboard controller and serial ports beyond the console, the crypto
// self-tests, the IO-APIC timer check, the TSC stability watchdog and
// SMP alternatives patching; and it expedites RCU grace periods, which
// the boot waits on (bench/results/design-measurements.md has what
// they saved).
//
// rootfstype=ramfs unpacks the initrd into a ramfs rather than a tmpfs:
// the kernel sizes a tmpfs root at half the memory free at that point,
// and in a small guest the agent's files did not fit. The unpacking
// stopped with "Initramfs unpacking failed: write error", and runc,
// truncated, died of SIGBUS at the first container. The root holds the
// initrd's files only (the agent's state is on /run), so it needs no cap.
const KernelCmdline = "console=ttyS0 panic=-1 quiet rootfstype=ramfs" +
	" i8042.noaux i8042.nokbd i8042.nopnp i8042.dumbkbd 8250.nr_uarts=1" +
	" cryptomgr.notests no_timer_check tsc=reliable rcupdate.rcu_expedited=1 noreplace-smp"

// GuestCmdline is KernelCmdline for a guest of cpus vCPUs, under KVM or
// not. Under TCG a single vCPU's kernel takes its ticks from the HPET
// rather than the local APIC timer, whose calibration waits a tenth of a
// second on every boot: TCG emulates no TSC deadline timer, which is how
// a guest under KVM skips that wait. With more than one vCPU the APIC
// timers stay: each CPU needs its own, or the HPET's ticks go to them all
// by IPI.
func GuestCmdline(kvm bool, cpus int) string {
	if !kvm && cpus == 1 {
		return KernelCmdline + " noapictimer"
	}
	return KernelCmdline
}

// FloorArgs are QEMU's flags for a bare boot of kernel and initrd: the
// machine, size and kernel command line the driver gives a default VM,
// and no devices. The benchmarks time it as the floor a VM start can only
// be slower than.
func FloorArgs(kernel, initrd string, kvm bool) []string {
	return append(MachineArgs(DefaultMachine, kvm),
		"-smp", strconv.Itoa(DefaultCPUs), "-m", strconv.Itoa(DefaultMemoryMB),
		"-nodefaults", "-nographic", "-no-reboot", "-no-user-config", "-serial", "null",
		"-kernel", kernel, "-initrd", initrd, "-append", GuestCmdline(kvm, DefaultCPUs))
}

// args builds QEMU's command line. The agent channel is a client-mode
// chardev: QEMU connects to the shim's socket before the guest runs, so
// the guest's port is connected from its first read.
//
// With a vsock CID, the agent channel is AF_VSOCK instead: QEMU gets the
// vhost-vsock device the shim opened as fd 3, and the kernel command line
// tells the agent to listen there.
func args(m Machine, cfg uvm.Config, kvm bool, agentSock, qmpSock, fsSock string, vsockCID uint32) []string {
	cpus, mem := cfg.CPUs, cfg.MemoryMB
	if cpus <= 0 {
		cpus = DefaultCPUs
	}
	if mem <= 0 {
		mem = DefaultMemoryMB
	}
	a := append([]string{"-name", "winctr-" + cfg.ID}, MachineArgs(m, kvm)...)
	a = append(a,
		"-smp", strconv.Itoa(cpus), "-m", strconv.Itoa(mem),
		"-nodefaults", "-nographic", "-no-reboot", "-no-user-config",
		"-serial", "stdio",
		"-kernel", cfg.Kernel, "-initrd", cfg.Initrd,
		"-qmp", "unix:"+qmpSock+",server=on,wait=off",
	)
	cmdline := GuestCmdline(kvm, cpus)
	if p := strings.TrimSpace(cfg.Host.KernelParams); p != "" {
		cmdline += " " + p
	}
	if vsockCID != 0 {
		cmdline += " " + uvm.TransportParam + "=vsock"
		a = append(a, "-device", fmt.Sprintf("%s,guest-cid=%d,vhostfd=3", m.device("vhost-vsock"), vsockCID))
	} else {
		a = append(a,
			"-device", m.device("virtio-serial"),
			"-chardev", "socket,id=agent,path="+agentSock,
			"-device", "virtserialport,chardev=agent,name="+agentPort,
		)
	}
	// Free page reporting: the guest tells QEMU which pages it freed
	// (the initrd's image once unpacked, the boot's scratch memory) and
	// QEMU hands them back to the host, so an idle VM holds what its guest
	// uses rather than every page it ever touched.
	a = append(a, "-device", m.device("virtio-balloon")+",free-page-reporting=on")
	a = append(a, "-append", cmdline)
	// Each NIC's tap is an extra file after the vhost-vsock device.
	fd := 3
	if vsockCID != 0 {
		fd = 4
	}
	for i, nic := range cfg.NICs {
		a = append(a,
			"-netdev", fmt.Sprintf("tap,id=net%d,fd=%d", i, fd+i),
			"-device", fmt.Sprintf("%s,netdev=net%d,mac=%s%s", m.device("virtio-net"), i, nic.MAC, m.noOptionROM()),
		)
	}
	if fsSock != "" {
		// virtio-fs maps guest memory into virtiofsd: it must be shared.
		// The machine's memory-backend takes it on every machine type
		// (microvm has no NUMA nodes to hang it on).
		a = append(a,
			"-object", fmt.Sprintf("memory-backend-memfd,id=mem,size=%dM,share=on", mem),
			"-machine", "memory-backend=mem",
			"-chardev", "socket,id=vfs,path="+fsSock,
			"-device", m.device("vhost-user-fs")+",chardev=vfs,tag=share",
		)
	}
	return a
}

// startVirtiofsd serves dir on sock. The shim makes the listening socket
// and hands it over (--fd), so it exists before virtiofsd runs: QEMU can
// start at once, with no waiting for virtiofsd to create it.
func startVirtiofsd(virtiofsd, dir, sock string, console io.Writer, background bool) (*exec.Cmd, chan struct{}, error) {
	_ = os.Remove(sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("virtiofs socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // the socket is virtiofsd's from here on
	defer ln.Close()
	f, err := ln.File()
	if err != nil {
		return nil, nil, fmt.Errorf("virtiofs socket: %w", err)
	}
	defer f.Close()
	// sandbox=chroot: virtiofsd stays in the host's mount namespace, so
	// each container's rootfs mounted into the share later is visible.
	cmd := command(background, virtiofsd, "--fd=3", "-o", "source="+dir, "-o", "cache=none", "-o", "sandbox=chroot")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdout, cmd.Stderr = console, console
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", virtiofsd, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return cmd, done, nil
}

// vsockBootBound bounds how long a vsock stream waits for the booting
// guest's agent to listen.
const vsockBootBound = 90 * time.Second

// Start boots a VM and returns once QEMU has connected the agent channel
// (virtio-serial), or once QEMU runs (vsock). The guest is still booting
// then; Session's first stream waits for it.
func Start(ctx context.Context, cfg uvm.Config) (_ *VM, retErr error) {
	for _, f := range []string{cfg.Kernel, cfg.Initrd} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("boot file %s: %v (build them with `make bootfiles`): %w", f, err, errdefs.ErrFailedPrecondition)
		}
	}
	binary, err := FindQEMU(cfg.Host.Hypervisor)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrFailedPrecondition)
	}
	kvm := KVM()
	if err := accelerator(ctx, cfg, kvm); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	agentSock := filepath.Join(cfg.StateDir, "agent.sock")
	qmpSock := filepath.Join(cfg.StateDir, "qmp.sock")
	var (
		ln    net.Listener
		vhost *os.File
		cid   uint32
	)
	if vsockUsable() {
		if vhost, cid, err = openVsock(); err != nil {
			return nil, err
		}
		// QEMU holds its own copy from its start on.
		defer vhost.Close()
	} else {
		_ = os.Remove(agentSock)
		if ln, err = net.Listen("unix", agentSock); err != nil {
			return nil, fmt.Errorf("agent socket: %w", err)
		}
		defer ln.Close()
	}

	var (
		fsd     *exec.Cmd
		fsdDone chan struct{}
		fsSock  string
	)
	if cfg.ShareDir != "" {
		fsSock = filepath.Join(cfg.StateDir, "virtiofs.sock")
		virtiofsd, err := FindVirtiofsd(cfg.Host.FileServer)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, errdefs.ErrFailedPrecondition)
		}
		if fsd, fsdDone, err = startVirtiofsd(virtiofsd, cfg.ShareDir, fsSock, cfg.Console, cfg.Background); err != nil {
			return nil, err
		}
		defer func() {
			if retErr != nil {
				_ = fsd.Process.Kill()
				<-fsdDone
			}
		}()
	}

	log.G(ctx).WithField("vm", cfg.ID).WithField("kvm", kvm).WithField("vsock_cid", cid).Info("starting QEMU")
	cmd := command(cfg.Background, binary, args(DefaultMachine, cfg, kvm, agentSock, qmpSock, fsSock, cid)...)
	if vhost != nil {
		cmd.ExtraFiles = []*os.File{vhost} // fd 3, args' vhostfd
	}
	for _, nic := range cfg.NICs {
		cmd.ExtraFiles = append(cmd.ExtraFiles, nic.Tap)
	}
	cmd.Stdout = cfg.Console
	cmd.Stderr = cfg.Console
	// The VM must not outlive the shim that owns it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	vm := &VM{cfg: cfg, cmd: cmd, fsd: fsd, fsdDone: fsdDone, qmpPath: qmpSock, exited: make(chan struct{})}
	// Pid files let the delete bootstrap end a VM whose shim is gone.
	writePid(cfg.StateDir, "qemu.pid", cmd.Process.Pid)
	if fsd != nil {
		writePid(cfg.StateDir, "virtiofsd.pid", fsd.Process.Pid)
	}
	go func() {
		vm.waitErr = cmd.Wait()
		vm.qemuGone.Store(true)
		// virtiofsd serves this VM only; it ends with it.
		if vm.fsd != nil {
			_ = vm.fsd.Process.Kill()
			<-vm.fsdDone
		}
		close(vm.exited)
	}()
	if fsd != nil {
		go vm.watchVirtiofsd()
	}
	defer func() {
		if retErr != nil {
			vm.kill()
		}
	}()

	if vhost != nil {
		vm.session = uvm.NewDialSession(vsockDialer(cid, vm.exited, vsockBootBound), vm.exited)
		return vm, nil
	}
	accepted := make(chan net.Conn, 1)
	acceptErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acceptErr <- err
			return
		}
		accepted <- c
	}()
	select {
	case c := <-accepted:
		s, err := uvm.NewSession(c)
		if err != nil {
			c.Close()
			return nil, err
		}
		vm.session = s
		return vm, nil
	case err := <-acceptErr:
		return nil, fmt.Errorf("agent channel: %w", err)
	case <-vm.exited:
		return nil, fmt.Errorf("QEMU exited at start: %v", vm.waitErr)
	case <-ctx.Done():
		return nil, fmt.Errorf("QEMU did not connect the agent channel: %w", ctx.Err())
	}
}

// backgroundNice is the niceness of a Background VM's processes.
const backgroundNice = 19

// command runs name with args, at the lowest CPU priority if background:
// through nice(1), so that every thread the process ever makes has it
// from the start.
func command(background bool, name string, args ...string) *exec.Cmd {
	if !background {
		return exec.Command(name, args...)
	}
	return exec.Command("nice", append([]string{"-n", strconv.Itoa(backgroundNice), name}, args...)...)
}

// Foreground gives a Background VM's processes, every thread of them,
// the normal CPU priority.
func (vm *VM) Foreground() error {
	var errs []error
	for _, pid := range vm.Pids() {
		tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("priority of thread %d of %d: %w", tid, pid, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Session is the transport to the guest agent.
func (vm *VM) Session() *uvm.Session { return vm.session }

// Pids are the VM's host processes: QEMU and, with a share, virtiofsd.
func (vm *VM) Pids() []int {
	pids := []int{vm.cmd.Process.Pid}
	if vm.fsd != nil {
		pids = append(pids, vm.fsd.Process.Pid)
	}
	return pids
}

// Exited is closed when QEMU has exited.
func (vm *VM) Exited() <-chan struct{} { return vm.exited }

// qmpRun sends one QMP command.
func (vm *VM) qmpRun(cmd string) error {
	mon, err := qmp.NewSocketMonitor("unix", vm.qmpPath, 2*time.Second)
	if err != nil {
		return err
	}
	if err := mon.Connect(); err != nil {
		return err
	}
	defer mon.Disconnect()
	_, err = mon.Run([]byte(`{"execute":"` + cmd + `"}`))
	return err
}

// Stop ends the VM: QMP quit, then SIGKILL if QEMU is still there when ctx
// ends. It returns once QEMU has exited.
func (vm *VM) Stop(ctx context.Context) error {
	if vm.session != nil {
		vm.session.Close()
	}
	select {
	case <-vm.exited:
		return nil
	default:
	}
	if err := vm.qmpRun("quit"); err != nil {
		log.G(ctx).WithError(err).WithField("vm", vm.cfg.ID).Warn("QMP quit; killing QEMU")
		vm.kill()
		return nil
	}
	select {
	case <-vm.exited:
		return nil
	case <-ctx.Done():
		vm.kill()
		return fmt.Errorf("QEMU did not quit in time; killed: %w", ctx.Err())
	}
}

// watchVirtiofsd stops the VM when virtiofsd dies under it: the pod's
// containers' roots are on its share, so they could only hang; ending the
// VM ends their processes, and their exits are reported.
func (vm *VM) watchVirtiofsd() {
	select {
	case <-vm.fsdDone:
		if !vm.qemuGone.Load() {
			if vm.cfg.Console != nil {
				fmt.Fprintf(vm.cfg.Console, "winctr: virtiofsd of VM %s exited; stopping the VM\n", vm.cfg.ID)
			}
			vm.kill()
		}
	case <-vm.exited:
	}
}

// kill ends QEMU at once and waits for it.
func (vm *VM) kill() {
	_ = vm.cmd.Process.Signal(unix.SIGKILL)
	<-vm.exited
}

func writePid(dir, name string, pid int) {
	_ = os.WriteFile(filepath.Join(dir, name), []byte(strconv.Itoa(pid)), 0o600)
}

// KillLeftovers ends the QEMU and virtiofsd of a VM state directory whose
// shim is gone, checking that each pid still runs a command naming that
// directory, so that a recycled pid is never hit.
func KillLeftovers(stateDir string) {
	for _, name := range []string{"qemu.pid", "virtiofsd.pid"} {
		if pid := recordedPid(stateDir, name); pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// recordedPid is the pid in a VM state directory's pid file when that
// process still runs a command naming the directory, else 0.
func recordedPid(stateDir, name string) int {
	b, err := os.ReadFile(filepath.Join(stateDir, name))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil || pid <= 1 {
		return 0
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || !bytes.Contains(cmdline, []byte(stateDir)) {
		return 0
	}
	return pid
}

// OwnedByLiveShim tells whether the VM of a state directory still runs
// under a live shim: QEMU's parent is a process of this same binary.
// containerd 2.2 and older run a task's delete bootstrap whenever their
// connection for that task closes, also while the pod's shim lives on for
// its other containers: the bootstrap must then leave the VM alone.
func OwnedByLiveShim(stateDir string) bool {
	pid := recordedPid(stateDir, "qemu.pid")
	if pid == 0 {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The fields after the command name, which is in parentheses: state,
	// then the parent's pid.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 2 {
		return false
	}
	parent, err := os.Readlink(filepath.Join("/proc", fields[1], "exe"))
	if err != nil {
		return false
	}
	self, err := os.Executable()
	return err == nil && parent == self
}
