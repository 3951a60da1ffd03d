//go:build !linux

// Command winctr is the operator's tool for a node running winctr's
// shim; it runs on Linux hosts.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "winctr: this command runs on Linux hosts")
	os.Exit(1)
}
