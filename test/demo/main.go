//go:build linux

// Command demo starts a private containerd with winctr, runs one busybox
// container that says hello, and tears everything down.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := harness.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	args := []string{"run", "--rm", "--runtime", harness.Runtime, image.Name, "demo", "echo", "hello"}
	fmt.Printf("$ ctr %s\n", joinArgs(args))
	r := c.Ctr(ctx, args...)
	fmt.Print(r.Stdout)
	if r.Err != nil {
		fmt.Fprintf(os.Stderr, "demo: ctr run failed: %v\n%s\ncontainerd log:\n%s\n", r.Err, r.Stderr, c.LogTail(30))
	}
	leaks := c.Leaks()
	c.Close()
	if r.Err != nil {
		os.Exit(1)
	}
	if len(leaks) > 0 {
		fmt.Fprintln(os.Stderr, "demo: left behind:", leaks)
		os.Exit(1)
	}
}

func joinArgs(a []string) string {
	s := ""
	for i, x := range a {
		if i > 0 {
			s += " "
		}
		s += x
	}
	return s
}
