//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/winctr/winctr/internal/vmstate"
)

var logsOpts struct {
	ns             string
	console, agent bool
}

var logsCommand = command{
	short:   "print a VM pod's guest console and agent log",
	summary: "Print the guest console and the guest agent's log of a VM pod, as the shim\nkeeps them in the VM's state directory (the last 256 KiB to 512 KiB each).",
	usage:   "POD",
	flags: func(fs *flag.FlagSet) {
		logsOpts.console, logsOpts.agent = false, false
		fs.StringVar(&logsOpts.ns, "n", "", "the pod's containerd namespace (default: any)")
		fs.BoolVar(&logsOpts.console, "console", false, "only the guest console")
		fs.BoolVar(&logsOpts.agent, "agent", false, "only the agent's log")
	},
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		if len(args) != 1 {
			return usageError(fs, "one pod expected")
		}
		pod, err := findPod(logsOpts.ns, args[0])
		if err != nil {
			return err
		}
		if pod.VM == nil {
			return fmt.Errorf("pod %s runs on the host's kernel: it has no guest console or agent (its shim's log is containerd's)", pod.ID)
		}
		both := logsOpts.console == logsOpts.agent
		logs := struct {
			Console *string `json:"console,omitempty"`
			Agent   *string `json:"agent,omitempty"`
		}{}
		if both || logsOpts.console {
			s, err := readLog(filepath.Join(pod.VM.Dir, vmstate.ConsoleLog))
			if err != nil {
				return err
			}
			logs.Console = &s
		}
		if both || logsOpts.agent {
			s, err := readLog(filepath.Join(pod.VM.Dir, vmstate.AgentLog))
			if err != nil {
				return err
			}
			logs.Agent = &s
		}
		if c.format == "json" {
			return c.json(logs)
		}
		if logs.Console != nil {
			if both {
				fmt.Fprintf(c.stdout, "==> guest console (%s) <==\n", pod.VM.Dir)
			}
			fmt.Fprint(c.stdout, *logs.Console)
		}
		if logs.Agent != nil {
			if both {
				fmt.Fprintf(c.stdout, "==> guest agent <==\n")
			}
			fmt.Fprint(c.stdout, *logs.Agent)
		}
		return nil
	},
}

// readLog reads a VM log with the part rotated out before it.
func readLog(path string) (string, error) {
	prev, err := os.ReadFile(path + ".1")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	cur, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s does not exist: the pod's shim predates winctr logs, or its VM has not booted yet", path)
	}
	if err != nil {
		return "", err
	}
	return string(prev) + string(cur), nil
}
