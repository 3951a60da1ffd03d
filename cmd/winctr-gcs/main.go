//go:build linux

// Command winctr-gcs is winctr's guest agent: PID 1 of a Linux utility VM.
// It brings up the guest (mounts, kernel modules), finds its channel to the
// host and serves the agent API (protos/agent/v1) over ttrpc on the first
// stream of a yamux session on that channel.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/hashicorp/yamux"
	"golang.org/x/sys/unix"

	agent "github.com/winctr/winctr/protos/agent/v1"
)

// modulesList names, one per line and in load order, the modules the boot
// files builder put into the initrd.
const modulesList = "/etc/winctr/modules"

// portName is the virtio-serial port the host's shim listens on.
const portName = "agent"

func main() {
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
	loaded, err := loadModules(modulesList)
	if err != nil {
		return err
	}
	port, err := findPort(portName, 10*time.Second)
	if err != nil {
		return err
	}
	svc := &service{modules: loaded, containers: newContainers(nil)}
	// The port reads EOF while no host end is connected, and the shim may
	// reconnect (a restarted shim, say): serve one session after another.
	for {
		if err := serveSession(svc, port); err != nil {
			logf("session on %s: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serveSession serves the agent API on one yamux session over the port
// until the host goes away.
func serveSession(svc *service, port string) error {
	f, err := os.OpenFile(port, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = guestLogWriter{}
	session, err := yamux.Server(f, cfg)
	if err != nil {
		return err
	}
	defer session.Close()
	srv, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	r := newRouter()
	svc.containers.router = r
	agent.RegisterAgentService(srv, svc)
	go func() {
		_ = srv.Serve(context.Background(), r)
	}()
	defer srv.Close()
	defer r.Close()
	logf("serving on %s", port)
	for {
		c, err := session.Accept()
		if err != nil {
			return err
		}
		go r.route(c)
	}
}
