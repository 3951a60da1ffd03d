//go:build linux

// Command uvm is `make bench-uvm`: in one run, interleaved, the median time
// from `ctr run` to the first output line of a container in a utility VM,
// and the median boot of QEMU with the same kernel and a minimal init that
// powers off at once (the floor on this machine), and their ratio.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/lcow/bootfiles"
	"github.com/winctr/winctr/internal/uvmdriver/qemu"
	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

func main() {
	runs := flag.Int("runs", 5, "measurements of each figure")
	boot := flag.String("bootfiles", "/usr/local/share/winctr/lcow", "boot files of the UVM")
	flag.Parse()
	if err := run(*runs, *boot); err != nil {
		fmt.Fprintln(os.Stderr, "bench-uvm:", err)
		os.Exit(1)
	}
}

func run(runs int, boot string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "winctr-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	floor, err := floorBootFiles(dir)
	if err != nil {
		return err
	}
	c, err := harness.Start(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	var vmRun, bare []time.Duration
	for i := 0; i < runs; i++ {
		d, err := firstLine(ctx, c, fmt.Sprintf("bench-%d", i))
		if err != nil {
			return err
		}
		vmRun = append(vmRun, d)
		d, err = bareBoot(ctx, filepath.Join(boot, bootmanifest.KernelFile), floor)
		if err != nil {
			return err
		}
		bare = append(bare, d)
	}
	a, b := median(vmRun), median(bare)
	fmt.Printf("KVM: %v (TCG emulation otherwise)\n", qemu.KVM())
	fmt.Printf("%-52s %10s\n", "figure (median of "+fmt.Sprint(runs)+", interleaved)", "time")
	fmt.Printf("%-52s %10v\n", "ctr run -> first output line, container in a new UVM", a.Round(time.Millisecond))
	fmt.Printf("%-52s %10v\n", "bare QEMU boot of the same kernel, init powers off", b.Round(time.Millisecond))
	fmt.Printf("%-52s %10.2f\n", "ratio", float64(a)/float64(b))
	return nil
}

// floorBootFiles builds an initrd whose init only powers off.
func floorBootFiles(dir string) (string, error) {
	bin := filepath.Join(dir, "poweroff")
	build := exec.Command("go", "build", "-o", bin, "./test/bench/poweroff")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build poweroff: %v: %s", err, out)
	}
	out := filepath.Join(dir, "floor")
	if err := bootfiles.Build(bootfiles.Options{Agent: bin, Out: out, Modules: []string{}, HyperVModules: []string{}, ConditionalModules: map[string][]string{}, Runtime: bootfiles.NoRuntime,
		// Booted bare, never by a shim: the manifest only has to exist.
		Manifest: &bootmanifest.Manifest{AgentVersion: "poweroff floor"}}); err != nil {
		return "", err
	}
	return filepath.Join(out, bootmanifest.InitrdFile), nil
}

// firstLine times `ctr run` of a VM container until its first output line.
func firstLine(ctx context.Context, c *harness.Containerd, id string) (time.Duration, error) {
	cmd := c.CtrCmd(ctx, append(append([]string{"run", "--rm"}, harness.VMOptions("")...), image.Name, id, "echo", "ready")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		_ = cmd.Wait()
		return 0, fmt.Errorf("no output from the VM container; containerd log:\n%s", c.LogTail(20))
	}
	d := time.Since(start)
	for sc.Scan() {
	}
	return d, cmd.Wait()
}

// bareBoot times QEMU from start to exit with the floor initrd, as the
// driver would boot it.
func bareBoot(ctx context.Context, kernel, initrd string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, qemu.Binary, qemu.FloorArgs(kernel, initrd, qemu.KVM())...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("bare boot: %v: %s", err, out)
	}
	return time.Since(start), nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
