//go:build linux

// Command winctr-gcs is winctr's guest agent: PID 1 of a Linux utility VM.
// It brings up the guest (mounts, kernel modules), finds its channel to the
// host (an AF_VSOCK port when the kernel command line says so, dialled
// out to the host on Hyper-V, else a virtio-serial port carrying yamux) and serves there the agent API
// (protos/agent/v1) over ttrpc, processes' stdio and its own log.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/hashicorp/yamux"
	"github.com/mdlayher/vsock"
	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/gcs"
	"github.com/winctr/winctr/internal/pause"
	"github.com/winctr/winctr/internal/runchost"
	"github.com/winctr/winctr/internal/uvm"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// modulesList names, one per line and in load order, the modules the boot
// files builder put into the initrd for every guest on QEMU; the lists
// named with uvm's Modules* suffixes hold the rest (moduleLists).
const modulesList = "/" + uvm.ModulesList

// portName is the virtio-serial port the host's shim listens on.
const portName = "agent"

// bundlesDir holds the guest's bundles (config.json); rootfs are in the share.
const bundlesDir = "/run/winctr/bundles"

// ociRuntime is the OCI runtime the initrd carries (bootfiles.RuntimePath):
// crun, a C program, rather than runc, whose every command starts a Go
// runtime (runc create runs three of them). Under emulation that start-up
// was most of a container's creation; `make bootfiles` links it
// statically for the same reason.
const ociRuntime = "crun"

func main() {
	if pause.Requested() {
		pause.Main()
	}
	if os.Getpid() != 1 && versionRequested(os.Args) {
		if err := printVersion(os.Stdout); err != nil {
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "winctr-gcs: %v\n", err)
		if os.Getpid() == 1 {
			// PID 1 must not return: the kernel would panic. Powering off
			// tells the host at once that the guest failed.
			_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		}
		os.Exit(1)
	}
}

func run() error {
	if os.Getenv("PATH") == "" {
		// The kernel starts init with no PATH; runc and its hooks need one.
		os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	if os.Getpid() == 1 {
		if err := switchRoot(); err != nil {
			return err
		}
		if err := mountSystem(); err != nil {
			return err
		}
		go reapZombies()
	}
	atInit := uptime()
	var loaded []string
	for _, list := range moduleLists(cmdlineParam(uvm.HypervisorParam), cmdlineParam(uvm.TransportParam), hasPCI()) {
		mods, err := loadModules(list)
		loaded = append(loaded, mods...)
		if err != nil {
			return err
		}
	}
	time.AfterFunc(pageReportingDelay, finerPageReporting)
	// The boot's phases, by the guest's clock, for whoever tunes it.
	logf("boot: agent on its root at uptime %s, %d modules loaded by %s", atInit, len(loaded), uptime())
	if err := bringUpLoopback(); err != nil {
		logf("loopback: %v", err)
	}
	svc := &service{modules: loaded, Containers: gcs.NewContainers(gcs.Config{
		Root:       mountRoot,
		BundlesDir: bundlesDir,
		SysctlDir:  "/proc/sys",
		NewHost: func(ctx context.Context) (gcs.Host, error) {
			return runchost.New(ctx, gcs.Namespace, runchost.Config{Binary: ociRuntime, Root: "/run/runc"})
		},
		Logf:            logf,
		NetAdminModules: (&moduleSet{list: modulesList + uvm.ModulesNetAdmin}).load,
	})}
	if cmdlineParam(uvm.TransportParam) == "vsock" && cmdlineParam(uvm.HypervisorParam) == "hyperv" {
		return serveDialOut(svc, dialHost, dialOutTimeout)
	}
	if cmdlineParam(uvm.TransportParam) == "vsock" {
		ln, err := vsock.Listen(uvm.VsockPort, nil)
		if err != nil {
			return fmt.Errorf("listen on vsock port %d: %w", uvm.VsockPort, err)
		}
		logf("serving on vsock port %d", uvm.VsockPort)
		return serve(svc, ln.Accept)
	}
	port, err := findPort(portName, 10*time.Second)
	if err != nil {
		return err
	}
	// The port reads EOF while no host end is connected, and the shim may
	// reconnect (a restarted shim, say): serve one session after another.
	for {
		if err := serveSession(svc, port); err != nil {
			logf("session on %s: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// moduleLists are the module lists (bootfiles' ModulesListPath and the
// uvm.Modules* suffixed ones) this guest loads, in order: on Hyper-V its
// drivers alone (only one vsock transport may register, and it must be
// hvsocket's); on QEMU the common ones, then the virtio bus the machine
// has, then the vsock transport if the host chose vsock.
func moduleLists(hypervisor, transport string, pci bool) []string {
	if hypervisor == "hyperv" {
		return []string{modulesList + uvm.ModulesHyperV}
	}
	lists := []string{modulesList, modulesList + uvm.ModulesMMIO}
	if pci {
		lists[1] = modulesList + uvm.ModulesPCI
	}
	if transport == "vsock" {
		lists = append(lists, modulesList+uvm.ModulesVsock)
	}
	return lists
}

// hasPCI tells whether the machine has a PCI bus with devices on it (a
// PC does; microvm has virtio-mmio devices instead).
func hasPCI() bool {
	entries, err := os.ReadDir("/sys/bus/pci/devices")
	return err == nil && len(entries) > 0
}

// uptime is the guest's uptime from /proc/uptime (centiseconds), or 0.
func uptime() time.Duration {
	b, _ := os.ReadFile("/proc/uptime")
	secs, _, _ := strings.Cut(string(b), " ")
	d, err := time.ParseDuration(secs + "s")
	if err != nil {
		return 0
	}
	return d
}

// cmdlineParam reads a parameter the host set on the kernel command line:
// the channel it chose (uvm.TransportParam), the hypervisor
// (uvm.HypervisorParam).
func cmdlineParam(name string) string {
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}

// serveSession serves the agent API on one yamux session over the port
// until the host goes away.
func serveSession(svc *service, port string) error {
	f, err := os.OpenFile(port, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	cfg := uvm.YamuxConfig()
	cfg.LogOutput = guestLogWriter{}
	session, err := yamux.Server(f, cfg)
	if err != nil {
		return err
	}
	defer session.Close()
	logf("serving on %s", port)
	return serve(svc, session.Accept)
}

// serve routes the streams accept returns (API, stdio, logs) until it
// fails: the yamux session ended, or the vsock listener broke.
func serve(svc *service, accept func() (net.Conn, error)) error {
	srv, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	r := gcs.NewRouter(guestLog.attach)
	svc.UseRouter(r)
	agent.RegisterAgentService(srv, svc)
	go func() {
		_ = srv.Serve(context.Background(), r)
	}()
	defer srv.Close()
	defer r.Close()
	for {
		c, err := accept()
		if err != nil {
			return err
		}
		go r.Route(c)
	}
}
