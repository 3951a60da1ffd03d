// Command mkimage writes the test image (a static busybox, built locally)
// as an OCI layout tar for `ctr images import`, for checks that run a
// containerd of their own, such as the installed package's.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/winctr/winctr/test/image"
)

func main() {
	out := flag.String("o", "busybox.tar", "the tar to write")
	busybox := flag.String("busybox", "/bin/busybox", "the static busybox to put in the image")
	flag.Parse()
	if err := image.BuildFile(*out, *busybox, image.Name); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	fmt.Println(image.Name)
}
