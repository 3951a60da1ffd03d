// Command containerd-shim-winctr-v1 is winctr's containerd runtime shim v2
// (runtime type io.containerd.winctr.v1). containerd runs it with `start` to
// get a shim for a task or pod, with no action to serve the Task API, and
// with `delete` to clean up after a shim that is gone.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/pkg/shim"
)

// runtimeName is the runtime type containerd knows this shim by.
const runtimeName = "io.containerd.winctr.v1"

func main() {
	runPauseIfAsked()
	if versionRequested(os.Args[1:]) {
		printVersion(os.Stdout, os.Args[0])
		return
	}
	finish, err := adaptLegacyStart(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s", runtimeName, err)
		os.Exit(1)
	}
	keepListenerFromChildren()
	registerTaskPlugin()
	shim.RunShim(context.Background(), newManager(runtimeName))
	if err := finish(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s", runtimeName, err)
		os.Exit(1)
	}
}
