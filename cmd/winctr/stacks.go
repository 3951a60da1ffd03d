//go:build linux

package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/winctr/winctr/internal/shimdebug"
)

// debugDir is where the shims' debug sockets are; tests move it.
var debugDir = shimdebug.Dir

// stacksTimeout bounds a dump: a shim that cannot answer in it is hung
// past what its goroutines would show.
const stacksTimeout = 30 * time.Second

var stacksOpts struct{ ns string }

var stacksCommand = command{
	short:   "print the goroutines of a pod's shim and guest agent",
	summary: "Print the goroutines of a pod's shim and, for a VM pod, of its guest agent.",
	usage:   "POD",
	flags: func(fs *flag.FlagSet) {
		fs.StringVar(&stacksOpts.ns, "n", "", "the pod's containerd namespace (default: any)")
	},
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		if len(args) != 1 {
			return usageError(fs, "one pod expected")
		}
		pod, err := findPod(stacksOpts.ns, args[0])
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), stacksTimeout)
		defer cancel()
		sock := shimdebug.SocketPath(debugDir, pod.ShimPid)
		shim, err := dump(ctx, sock, shimdebug.OpStacks)
		if err != nil {
			return fmt.Errorf("shim %d: %w", pod.ShimPid, err)
		}
		out := struct {
			Shim       string `json:"shim"`
			Agent      string `json:"agent,omitempty"`
			AgentError string `json:"agent_error,omitempty"`
		}{Shim: shim}
		if pod.VM != nil {
			if out.Agent, err = dump(ctx, sock, shimdebug.OpAgentStacks); err != nil {
				out.AgentError = err.Error()
			}
		}
		if c.format == "json" {
			return c.json(out)
		}
		fmt.Fprintf(c.stdout, "==> shim %d (%s/%s) <==\n%s\n", pod.ShimPid, pod.Namespace, pod.ID, out.Shim)
		switch {
		case out.Agent != "":
			fmt.Fprintf(c.stdout, "==> guest agent <==\n%s\n", out.Agent)
		case out.AgentError != "":
			fmt.Fprintf(c.stdout, "==> guest agent <==\n(not available: %s)\n", out.AgentError)
		}
		return nil
	},
}

// dump asks the shim's debug socket for one text.
func dump(ctx context.Context, sock, op string) (string, error) {
	var out bytes.Buffer
	if _, err := shimdebug.Call(ctx, sock, shimdebug.Request{Op: op}, nil, &out, io.Discard, nil); err != nil {
		return "", err
	}
	return out.String(), nil
}
