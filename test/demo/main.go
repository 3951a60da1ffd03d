//go:build linux

// Command demo shows what winctr does, end to end through a private
// containerd: a container on the host kernel, one in a utility VM with a
// kernel of its own, and one more VM pod served from a warm pool of booted
// VMs. It prints each command, its output and the time it took, then
// tears everything down and checks that nothing was left behind.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/uvmdriver/qemu"
	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// vmBound bounds one ctr run in a VM: under emulation on a loaded machine
// a cold boot takes far longer than with KVM.
const vmBound = 3 * time.Minute

func main() {
	boot := flag.String("bootfiles", "", "directory of the utility VM's kernel and initrd (make demo builds them under _output)")
	flag.Parse()
	if err := run(*boot); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// step is one command the demo ran, for the closing summary.
type step struct {
	what string
	args []string
	took time.Duration
}

type demo struct {
	c     *harness.Containerd
	steps []step
}

// ctr runs one ctr command, printed as a user would type it (without the
// private containerd's address and namespace), and returns its output.
func (d *demo) ctr(ctx context.Context, what string, bound time.Duration, args ...string) (string, error) {
	fmt.Printf("\n# %s\n$ ctr %s\n", what, strings.Join(args, " "))
	start := time.Now()
	r := d.c.CtrWithin(ctx, bound, "", args...)
	took := time.Since(start)
	fmt.Print(r.Stdout)
	if r.Err != nil {
		return "", fmt.Errorf("ctr %s: %v\n%s\ncontainerd log:\n%s", strings.Join(args, " "), r.Err, r.Stderr, d.c.LogTail(30))
	}
	fmt.Printf("  (%s)\n", seconds(took))
	d.steps = append(d.steps, step{what, args, took})
	return strings.TrimSpace(r.Stdout), nil
}

func run(boot string) error {
	if boot == "" {
		return errors.New("-bootfiles is required (run `make demo`)")
	}
	for _, f := range []string{bootmanifest.KernelFile, bootmanifest.InitrdFile} {
		if _, err := os.Stat(filepath.Join(boot, f)); err != nil {
			return fmt.Errorf("boot files: %w (make demo builds them)", err)
		}
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return err
	}
	hostKernel := unix.ByteSliceToString(uts.Release[:])

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := harness.Start(ctx)
	if err != nil {
		return err
	}
	d := &demo{c: c}
	fmt.Printf("Started a private containerd (socket %s, namespace %s) with winctr's shim from bin/ on its PATH, and imported %s: %s.\n",
		c.Socket, c.Namespace, image.Name, seconds(time.Since(start)))
	fmt.Printf("The host's kernel is %s.\n", hostKernel)
	if !qemu.KVM() {
		fmt.Println("No usable /dev/kvm: QEMU emulates the guest's CPU (TCG), translating its code in software,")
		fmt.Println("so each VM boots in seconds instead of a fraction of one, and runs slower, than with KVM.")
	}

	err = d.show(ctx, hostKernel, boot)
	if err == nil {
		// The pool's waiting VM ends the way it does in production:
		// containerd exits, its shim stops the VM and leaves.
		t := time.Now()
		if err = c.EndPools(ctx); err == nil {
			fmt.Printf("\n# containerd stopped: the waiting VM's shim stopped it and left (%s)\n", seconds(time.Since(t)))
		}
	}
	leaks := c.WaitNoLeaks(10 * time.Second)
	c.Close()
	if err != nil {
		return err
	}
	if len(leaks) > 0 {
		return fmt.Errorf("left behind: %v", leaks)
	}

	fmt.Println("\nSummary (seconds, command):")
	for _, s := range d.steps {
		fmt.Printf("  %6.2f  ctr %s\n         %s\n", s.took.Seconds(), strings.Join(s.args, " "), s.what)
	}
	fmt.Println("containerd stopped; no shim, VM, mount or state left behind.")
	return nil
}

// show runs the demo's containers.
func (d *demo) show(ctx context.Context, hostKernel, boot string) error {
	host, err := d.ctr(ctx, "a container on the host kernel (process isolation, through runc)", 60*time.Second,
		"run", "--rm", "--runtime", harness.Runtime, image.Name, "demo-host", "uname", "-r")
	if err != nil {
		return err
	}
	if host != hostKernel {
		return fmt.Errorf("the host-kernel container saw kernel %q, want the host's %q", host, hostKernel)
	}

	// Hypervisor isolation is the runtime's option, as an operator sets it,
	// with a warm pool of one booted VM.
	opts := filepath.Join(d.c.Dir, "vm.toml")
	body := fmt.Sprintf("isolation = \"hypervisor\"\nboot_files_root_path = %q\nvm_pool_size = 1\n", boot)
	if err := os.WriteFile(opts, []byte(body), 0o644); err != nil {
		return err
	}
	fmt.Printf("\n# the runtime's options for VM pods, %s:\n%s", opts, body)
	vmArgs := func(id string) []string {
		return []string{"run", "--rm", "--runtime", harness.Runtime, "--runtime-config-path", opts, image.Name, id, "uname", "-r"}
	}

	guest, err := d.ctr(ctx, "a container in a utility VM of its own, booted for it (hypervisor isolation)", vmBound, vmArgs("demo-vm")...)
	if err != nil {
		return err
	}
	if guest == hostKernel {
		return fmt.Errorf("the VM container saw the host's kernel %q, not a guest's", guest)
	}
	fmt.Printf("  its kernel is the guest's %s, not the host's %s\n", guest, hostKernel)

	fmt.Println("\n# vm_pool_size = 1: meanwhile a VM of the same options boots in the background and waits")
	took, err := d.awaitPool(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("  a booted VM waits in the pool (%s after the first VM pod ended)\n", seconds(took))

	warm, err := d.ctr(ctx, "a second VM pod, served by the waiting VM: no boot", vmBound, vmArgs("demo-vm-warm")...)
	if err != nil {
		return err
	}
	if warm != guest {
		return fmt.Errorf("the pooled VM's container saw kernel %q, want the guest's %q", warm, guest)
	}
	// A pooled VM ends cleanly once booted and waiting: let the refill
	// finish before containerd stops.
	if took, err = d.awaitPool(ctx); err != nil {
		return err
	}
	fmt.Printf("\n# the pool filled again in the background: a booted VM waits (%s)\n", seconds(took))
	return nil
}

// awaitPool waits for a booted VM in the pool and says how long it took.
func (d *demo) awaitPool(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, vmBound)
	defer cancel()
	_, err := d.c.AwaitPoolEntry(ctx)
	return time.Since(start), err
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
