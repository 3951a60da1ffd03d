// Package pause is a pod's namespace holder when no pause container gives
// one: containerd's Sandbox API leaves the pod's namespaces to the shim.
// The process is the shim's (or the guest agent's) own binary run again as
// `pause`: PID 1 of a new PID, IPC and UTS namespace, in the pod's network
// namespace, with the pod's hostname; it reaps what is reparented to it
// and ends on SIGTERM or SIGINT.
package pause

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Arg is the first argument that makes a binary run Main.
const Arg = "pause"

func init() {
	if len(os.Args) > 1 && os.Args[1] == Arg {
		// setns changes only the calling thread, and /proc/<pid>/ns/net
		// shows the main thread's: Main must run there.
		runtime.LockOSThread()
	}
}

// Requested tells whether this process was started as a pause process.
func Requested() bool { return len(os.Args) > 1 && os.Args[1] == Arg }

// Command returns the command that starts a pause process for a pod: its
// network namespace (empty: stay in the caller's) and hostname.
func Command(netns, hostname string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, Arg, netns, hostname)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS,
		Pdeathsig:  unix.SIGKILL,
	}
	return cmd, nil
}

// Main is the pause process. It does not return.
func Main() {
	if err := setup(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "pause: %v\n", err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD)
	for s := range sigs {
		if s != unix.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

func setup(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: %s NETNS HOSTNAME", Arg)
	}
	if netns := args[0]; netns != "" {
		f, err := os.Open(netns)
		if err != nil {
			return err
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			return fmt.Errorf("join network namespace %s: %w", netns, err)
		}
	}
	if hostname := args[1]; hostname != "" {
		if err := unix.Sethostname([]byte(hostname)); err != nil {
			return fmt.Errorf("hostname %q: %w", hostname, err)
		}
	}
	return nil
}
