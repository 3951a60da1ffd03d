//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/containerd/console"

	"github.com/winctr/winctr/internal/shimdebug"
)

var shellOpts struct {
	ns  string
	tty string
}

var shellCommand = command{
	short:   "run a shell or command in a VM pod's guest (debug_shell)",
	summary: "Run a shell, or COMMAND, in a VM pod's guest, outside its containers, through\nthe guest agent. The runtime's options must allow it (debug_shell = true).",
	usage:   "POD [COMMAND [ARG...]]",
	flags: func(fs *flag.FlagSet) {
		fs.StringVar(&shellOpts.ns, "n", "", "the pod's containerd namespace (default: any)")
		fs.StringVar(&shellOpts.tty, "t", "auto", "a terminal in the guest: auto (when stdin is one), true or false")
	},
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		if len(args) < 1 {
			return usageError(fs, "a pod expected")
		}
		pod, err := findPod(shellOpts.ns, args[0])
		if err != nil {
			return err
		}
		if pod.VM == nil {
			return fmt.Errorf("pod %s runs on the host's kernel: there is no guest to open a shell in", pod.ID)
		}
		req := shimdebug.Request{Op: shimdebug.OpShell, Args: args[1:]}
		var con console.Console
		switch shellOpts.tty {
		case "true":
			req.Terminal = true
		case "auto":
			if f, ok := c.stdin.(*os.File); ok && c.format == "text" {
				if cur, err := console.ConsoleFromFile(f); err == nil {
					con, req.Terminal = cur, true
				}
			}
		case "false":
		default:
			return usageError(fs, "-t %q: want auto, true or false", shellOpts.tty)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var resize chan shimdebug.Size
		if con != nil {
			if sz, err := con.Size(); err == nil {
				req.Cols, req.Rows = uint32(sz.Width), uint32(sz.Height)
			}
			if err := con.SetRaw(); err != nil {
				return err
			}
			defer con.Reset()
			resize = make(chan shimdebug.Size, 1)
			winch := make(chan os.Signal, 1)
			signal.Notify(winch, syscall.SIGWINCH)
			defer signal.Stop(winch)
			go func() {
				for {
					select {
					case <-winch:
						if sz, err := con.Size(); err == nil {
							select {
							case resize <- shimdebug.Size{Cols: uint32(sz.Width), Rows: uint32(sz.Height)}:
							default:
							}
						}
					case <-ctx.Done():
						return
					}
				}
			}()
		}
		sock := shimdebug.SocketPath(debugDir, pod.ShimPid)
		if c.format == "json" {
			var out, errb bytes.Buffer
			status, err := shimdebug.Call(ctx, sock, req, c.stdin, &out, &errb, resize)
			if err != nil {
				return shellError(err)
			}
			if err := c.json(struct {
				ExitStatus int    `json:"exit_status"`
				Stdout     string `json:"stdout"`
				Stderr     string `json:"stderr"`
			}{status, out.String(), errb.String()}); err != nil {
				return err
			}
			return exitStatus(status)
		}
		status, err := shimdebug.Call(ctx, sock, req, c.stdin, c.stdout, c.stderr, resize)
		if err != nil {
			return shellError(err)
		}
		return exitStatus(status)
	},
}

func exitStatus(status int) error {
	if status == 0 {
		return nil
	}
	return exitError{code: status}
}

// shellError says a refusal is the shim's.
func shellError(err error) error {
	var re *shimdebug.RemoteError
	if errors.As(err, &re) {
		return fmt.Errorf("the pod's shim refused: %s", re.Msg)
	}
	return err
}
