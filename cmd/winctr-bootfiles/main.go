// Command winctr-bootfiles builds an LCOW utility VM's boot files: a kernel
// (Debian's linux-image-cloud-amd64, or one installed under -kernel-root,
// as hack/build-guest-kernel.sh does) and an initrd with winctr's guest
// agent as /init. `make bootfiles` runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/winctr/winctr/internal/lcow/bootfiles"
)

func main() {
	var o bootfiles.Options
	var modules, hvModules, netAdminModules string
	var scratch bool
	flag.StringVar(&o.Agent, "agent", "bin/winctr-gcs", "static guest agent binary (becomes /init)")
	flag.StringVar(&o.Out, "out", "/usr/local/share/winctr/lcow", "directory for kernel and initrd.img")
	flag.StringVar(&o.KernelRelease, "kernel-release", "", "kernel release under /boot and /lib/modules (default: newest cloud kernel)")
	flag.StringVar(&o.KernelRoot, "kernel-root", "", "directory holding the kernel's boot/ and lib/modules/ (default: the system's)")
	flag.StringVar(&modules, "modules", strings.Join(bootfiles.DefaultModules, ","), "kernel modules to include, with their dependencies")
	flag.StringVar(&o.Runtime, "runtime", bootfiles.DefaultRuntime, "the guest's OCI runtime (crun), installed in the guest as "+bootfiles.RuntimePath+" with the libraries it links")
	flag.StringVar(&hvModules, "hyperv-modules", "", "kernel modules of a guest on Hyper-V (default: "+strings.Join(bootfiles.DefaultHyperVModules, ",")+", and 9p where the kernel has it)")
	flag.StringVar(&netAdminModules, "netadmin-modules", strings.Join(bootfiles.DefaultNetAdminModules, ","), "kernel modules loaded before the first container with CAP_NET_ADMIN (those the kernel lacks or has built in are left out); none for none")
	flag.BoolVar(&scratch, "lcow-scratch", false, "also write "+bootfiles.ScratchFile+", the scratch template of containerd's windows-lcow snapshotter (needs mkfs.ext4 and qemu-img)")
	flag.Parse()
	o.Modules = strings.Split(modules, ",")
	if o.Runtime != bootfiles.NoRuntime {
		abs, err := filepath.Abs(o.Runtime)
		if err != nil {
			fmt.Fprintln(os.Stderr, "winctr-bootfiles:", err)
			os.Exit(1)
		}
		o.Runtime = abs
	}
	o.NetAdminModules = []string{}
	if netAdminModules != "none" && netAdminModules != "" {
		o.NetAdminModules = strings.Split(netAdminModules, ",")
	}
	if hvModules != "" {
		o.HyperVModules = strings.Split(hvModules, ",")
	}
	if err := bootfiles.Build(o); err != nil {
		fmt.Fprintln(os.Stderr, "winctr-bootfiles:", err)
		os.Exit(1)
	}
	if scratch {
		if err := bootfiles.Scratch(filepath.Join(o.Out, bootfiles.ScratchFile), bootfiles.DefaultScratchGB); err != nil {
			fmt.Fprintln(os.Stderr, "winctr-bootfiles: scratch:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("boot files in %s\n", o.Out)
}
