//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/lcow/bootfiles"
	"github.com/winctr/winctr/internal/uvmdriver/qemu"
	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// The baseline shim: containerd's own, built by hack/install-deps.sh.
const (
	runcRuntime = "io.containerd.runc.v2"
	runcShim    = "containerd-shim-runc-v2"
)

// bench holds one private containerd and the containers started on it, so
// that every exit path removes them.
type bench struct {
	cfg      config
	c        *harness.Containerd
	detached []string
	floor    string // initrd whose init powers off
	tmp      string
}

// vmArgs are ctr's flags for a container in a new utility VM.
func (b *bench) vmArgs() []string {
	conf := fmt.Sprintf("boot_files_root_path = %q\n", b.cfg.bootfiles)
	if b.cfg.guestMB > 0 {
		conf += fmt.Sprintf("vm_memory_size_in_mb = %d\n", b.cfg.guestMB)
	}
	return harness.VMOptions(conf)
}

// guest names the utility VM's memory size, for figures that depend on it.
func (b *bench) guest() string {
	return fmt.Sprintf("%d MB guest", b.guestMB())
}

// ctr runs one ctr command and returns its wall time.
func (b *bench) ctr(ctx context.Context, args ...string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := b.c.CtrCmd(ctx, args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("ctr %s: %w: %s; containerd log:\n%s", strings.Join(args, " "), err, out, b.c.LogTail(15))
	}
	return d, nil
}

// detach starts a long-running container and remembers it for close.
func (b *bench) detach(ctx context.Context, id string, runtimeArgs ...string) (time.Duration, error) {
	args := append([]string{"run", "-d"}, runtimeArgs...)
	args = append(args, image.Name, id, "sleep", "100000")
	d, err := b.ctr(ctx, args...)
	if err == nil {
		b.detached = append(b.detached, id)
	}
	return d, err
}

// remove ends and removes detached containers, a few at a time.
func (b *bench) remove(ctx context.Context, ids []string) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_ = b.c.Ctr(ctx, "task", "rm", "-f", id)
			_ = b.c.Ctr(ctx, "container", "rm", id)
		}()
	}
	wg.Wait()
	keep := b.detached[:0]
	for _, id := range b.detached {
		if !contains(ids, id) {
			keep = append(keep, id)
		}
	}
	b.detached = keep
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// keepLog copies containerd's log (with the shims' debug lines) where
// -containerd-log asked, the file name given a suffix per section.
func keepLog(cfg config, c *harness.Containerd, suffix string) {
	if cfg.keepLog == "" {
		return
	}
	if log, err := os.ReadFile(c.Log); err == nil {
		_ = os.WriteFile(cfg.keepLog+suffix, log, 0o644)
	}
}

// close removes what is left and stops containerd. The harness ends
// winctr's shims; runc shims still there are ended here, by pid.
func (b *bench) close(ctx context.Context) {
	b.remove(ctx, append([]string(nil), b.detached...))
	for _, pid := range snapshot().shims(runcShim, b.c.Socket) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	keepLog(b.cfg, b.c, "")
	b.c.Close()
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

// hostRun: `ctr run --rm echo` on the host kernel, winctr against runc.
func (b *bench) hostRun(ctx context.Context) ([]Figure, error) {
	var w, r []float64
	for i := 0; i < b.cfg.runs; i++ {
		d, err := b.ctr(ctx, "run", "--rm", "--runtime", harness.Runtime, image.Name, fmt.Sprintf("hw-%d", i), "echo", "hi")
		if err != nil {
			return nil, err
		}
		w = append(w, ms(d))
		if d, err = b.ctr(ctx, "run", "--rm", "--runtime", runcRuntime, image.Name, fmt.Sprintf("hr-%d", i), "echo", "hi"); err != nil {
			return nil, err
		}
		r = append(r, ms(d))
	}
	return []Figure{paired("ctr run --rm echo, host kernel", "ms", w, "same with containerd's runc shim", r, "ratio <= 0.95")}, nil
}

// coldUVM: `ctr run --rm echo` in a new utility VM against QEMU booting the
// same kernel, with the driver's machine flags, into an init that powers
// off at once.
func (b *bench) coldUVM(ctx context.Context) ([]Figure, error) {
	if err := b.buildFloor(); err != nil {
		return nil, err
	}
	kernel := filepath.Join(b.cfg.bootfiles, bootmanifest.KernelFile)
	var first, total, bare, runc []float64
	for i := 0; i < b.cfg.runs; i++ {
		f, t, err := b.vmEcho(ctx, fmt.Sprintf("uvm-%d", i))
		if err != nil {
			return nil, err
		}
		first, total = append(first, ms(f)), append(total, ms(t))
		d, err := bareBoot(ctx, kernel, b.floor)
		if err != nil {
			return nil, err
		}
		bare = append(bare, ms(d))
		r, err := b.runcEcho(ctx, fmt.Sprintf("uvm-runc-%d", i))
		if err != nil {
			return nil, err
		}
		runc = append(runc, r)
	}
	return []Figure{
		paired("ctr run --rm echo, new UVM (cold), to exit", "ms", total, "bare QEMU boot, init powers off", bare, "ratio <= 1.2"),
		paired("  the same, to its first output line", "ms", first, "bare QEMU boot, init powers off", bare, ""),
		paired("  the same, to exit", "ms", total, runcStart, runc, "ratio <= 5"),
	}, nil
}

// runcStart names the baseline of the VM start figures: what containerd's
// own shim takes to run the same container on the host kernel.
const runcStart = "runc shim's ctr run --rm echo"

// runcEcho times `ctr run --rm echo` with containerd's runc shim, in ms.
func (b *bench) runcEcho(ctx context.Context, id string) (float64, error) {
	d, err := b.ctr(ctx, "run", "--rm", "--runtime", runcRuntime, image.Name, id, "echo", "hi")
	return ms(d), err
}

// warmUVM times the cold figure's run on a runtime that keeps one booted
// VM waiting (vm_pool_size = 1, the size given by runtime options rather
// than annotations, since only the runtime's default VM is pooled). Each
// run starts once the pool's VM is booted, and takes it; the pool's
// refill boots the next VM meanwhile, as it would in use. The bare boot
// also waits for the pool, so that it never shares the CPUs with a
// booting VM. The pool ends with containerd, restarted at the end.
func (b *bench) warmUVM(ctx context.Context) ([]Figure, error) {
	if err := b.buildFloor(); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf("isolation = \"hypervisor\"\nvm_pool_size = 1\nboot_files_root_path = %q\n", b.cfg.bootfiles)
	if b.cfg.guestMB > 0 {
		conf += fmt.Sprintf("vm_memory_size_in_mb = %d\n", b.cfg.guestMB)
	}
	path := filepath.Join(b.tmp, "pool.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	args := []string{"--runtime", harness.Runtime, "--runtime-config-path", path}
	defer b.c.EndPools(ctx)
	// The first run boots its own VM and fills the pool.
	if _, _, err := b.vmEchoWith(ctx, "warm-fill", args); err != nil {
		return nil, err
	}
	kernel := filepath.Join(b.cfg.bootfiles, bootmanifest.KernelFile)
	wait := func() error {
		wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		_, err := b.c.AwaitPoolEntry(wctx)
		return err
	}
	var first, total, bare, runc []float64
	for i := 0; i < b.cfg.runs; i++ {
		if err := wait(); err != nil {
			return nil, err
		}
		f, t, err := b.vmEchoWith(ctx, fmt.Sprintf("warm-%d", i), args)
		if err != nil {
			return nil, err
		}
		first, total = append(first, ms(f)), append(total, ms(t))
		if err := wait(); err != nil {
			return nil, err
		}
		d, err := bareBoot(ctx, kernel, b.floor)
		if err != nil {
			return nil, err
		}
		bare = append(bare, ms(d))
		if err := wait(); err != nil {
			return nil, err
		}
		r, err := b.runcEcho(ctx, fmt.Sprintf("warm-runc-%d", i))
		if err != nil {
			return nil, err
		}
		runc = append(runc, r)
	}
	idle, err := b.idlePoolCPU(ctx)
	if err != nil {
		return nil, err
	}
	return []Figure{
		paired("ctr run --rm echo, UVM from the warm pool, to exit", "ms", total, "bare QEMU boot, init powers off", bare, "ratio <= 1.2"),
		paired("  the same, to its first output line", "ms", first, "bare QEMU boot, init powers off", bare, ""),
		paired("  the same, to exit", "ms", total, runcStart, runc, "ratio <= 2"),
		single("CPU of a waiting pooled VM (QEMU+virtiofsd), % of one CPU", "%", idle, ""),
	}, nil
}

// idlePoolCPU samples, three times over 5 s each, the CPU that the VM of
// the pool's waiting shim uses while nothing happens: what keeping a VM
// booted costs besides its memory.
func (b *bench) idlePoolCPU(ctx context.Context) ([]float64, error) {
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := b.c.AwaitPoolEntry(wctx); err != nil {
		return nil, err
	}
	pids := b.c.VMProcesses()
	if len(pids) == 0 {
		return nil, fmt.Errorf("no process of the pooled VM")
	}
	const window = 5 * time.Second
	var out []float64
	for i := 0; i < 3; i++ {
		var before, after int64
		for _, pid := range pids {
			before += cpuTicks(pid)
		}
		time.Sleep(window)
		for _, pid := range pids {
			after += cpuTicks(pid)
		}
		// Clock ticks are 1/100 s on Linux.
		out = append(out, float64(after-before)/100/window.Seconds()*100)
	}
	return out, nil
}

// vmEcho times `ctr run --rm` of echo in a new VM: to its first output
// line, and to ctr's exit (the VM stopped and removed).
func (b *bench) vmEcho(ctx context.Context, id string) (first, total time.Duration, err error) {
	return b.vmEchoWith(ctx, id, b.vmArgs())
}

// vmEchoWith is vmEcho with the given ctr flags for the VM.
func (b *bench) vmEchoWith(ctx context.Context, id string, vmArgs []string) (first, total time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	args := append(append([]string{"run", "--rm"}, vmArgs...), image.Name, id, "echo", "ready")
	cmd := b.c.CtrCmd(ctx, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(out)
	if sc.Scan() {
		first = time.Since(start)
	}
	for sc.Scan() {
	}
	err = cmd.Wait()
	total = time.Since(start)
	if err != nil || first == 0 {
		return 0, 0, fmt.Errorf("VM container %s: %v: %s; containerd log:\n%s", id, err, stderr.String(), b.c.LogTail(20))
	}
	return first, total, nil
}

// buildFloor builds an initrd whose init only powers off.
func (b *bench) buildFloor() error {
	if b.floor != "" {
		return nil
	}
	repo, err := harness.Repo()
	if err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp("", "winctr-bench-"); err != nil {
		return err
	}
	bin := filepath.Join(b.tmp, "poweroff")
	build := exec.Command("go", "build", "-o", bin, "./test/bench/poweroff")
	build.Dir = repo
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build poweroff: %w: %s", err, out)
	}
	out := filepath.Join(b.tmp, "floor")
	if err := bootfiles.Build(bootfiles.Options{Agent: bin, Out: out, Modules: []string{}, HyperVModules: []string{}, ConditionalModules: map[string][]string{}, Runtime: bootfiles.NoRuntime,
		// Booted bare, never by a shim: the manifest only has to exist.
		Manifest: &bootmanifest.Manifest{AgentVersion: "poweroff floor"}}); err != nil {
		return err
	}
	b.floor = filepath.Join(out, bootmanifest.InitrdFile)
	return nil
}

// bareBoot times QEMU from start to exit booting kernel and initrd.
func bareBoot(ctx context.Context, kernel, initrd string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu.Binary, qemu.FloorArgs(kernel, initrd, qemu.KVM())...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("bare boot: %w: %s", err, out)
	}
	return time.Since(start), nil
}

// execAndMemory: `ctr task exec` round trips into a host-kernel and a VM
// container against the runc shim's, and the shims' memory.
func (b *bench) execAndMemory(ctx context.Context) ([]Figure, error) {
	const host, vm, runc = "ex-host", "ex-vm", "ex-runc"
	if _, err := b.detach(ctx, host, "--runtime", harness.Runtime); err != nil {
		return nil, err
	}
	if _, err := b.detach(ctx, vm, b.vmArgs()...); err != nil {
		return nil, err
	}
	if _, err := b.detach(ctx, runc, "--runtime", runcRuntime); err != nil {
		return nil, err
	}
	defer b.remove(ctx, []string{host, vm, runc})
	var eh, er1, ev, er2 []float64
	var ph, pv, pr, pvTotal []float64
	var split []podMem
	n := 0
	execTrue := func(id string) (float64, error) {
		n++
		d, err := b.ctr(ctx, "task", "exec", "--exec-id", fmt.Sprintf("e%d", n), id, "true")
		return ms(d), err
	}
	for i := 0; i < b.cfg.runs; i++ {
		for _, m := range []struct {
			id  string
			out *[]float64
		}{{host, &eh}, {runc, &er1}, {vm, &ev}, {runc, &er2}} {
			d, err := execTrue(m.id)
			if err != nil {
				return nil, err
			}
			*m.out = append(*m.out, d)
		}
		p := snapshot()
		hp, err := p.shim(harness.ShimName, b.c.Socket, host)
		if err != nil {
			return nil, err
		}
		vp, err := p.shim(harness.ShimName, b.c.Socket, vm)
		if err != nil {
			return nil, err
		}
		rp, err := p.shim(runcShim, b.c.Socket, runc)
		if err != nil {
			return nil, err
		}
		for _, s := range []struct {
			pids []int
			out  *[]float64
		}{{[]int{hp}, &ph}, {[]int{vp}, &pv}, {[]int{rp}, &pr}, {p.tree(vp), &pvTotal}} {
			v, err := pssMB(s.pids...)
			if err != nil {
				return nil, err
			}
			*s.out = append(*s.out, v)
		}
		m, err := p.podMemory(vp, b.guestMB())
		if err != nil {
			return nil, err
		}
		split = append(split, m)
	}
	guest := b.guest()
	return append([]Figure{
		paired("ctr task exec round trip, host kernel", "ms", eh, "runc shim exec", er1, ""),
		paired("ctr task exec round trip, UVM", "ms", ev, "runc shim exec", er2, ""),
		paired("shim PSS, host-kernel pod", "MB", ph, "runc shim PSS", pr, "<= 15 MB"),
		paired("shim PSS, UVM pod", "MB", pv, "runc shim PSS", pr, "<= 15 MB"),
		paired("host PSS per UVM pod (shim+QEMU+virtiofsd), "+guest, "MB", pvTotal, "runc shim PSS", pr, "<= 64 MB (128 MB guest)"),
	}, splitFigures("UVM pod with one container, "+guest, split)...), nil
}

// guestMB is the utility VM's memory size in MB.
func (b *bench) guestMB() int {
	if b.cfg.guestMB > 0 {
		return b.cfg.guestMB
	}
	return qemu.DefaultMemoryMB
}

// splitFigures reports pods' host memory by where it goes, a median over
// the pods (or samples) of each part, and the sum of all but TCG's code
// buffer, which a KVM host does not have.
func splitFigures(what string, pods []podMem) []Figure {
	part := func(f func(podMem) float64) []float64 {
		var out []float64
		for _, m := range pods {
			out = append(out, f(m))
		}
		return out
	}
	return []Figure{
		single(what+": all but the TCG buffer", "MB", part(func(m podMem) float64 { return m.total() - m.tcg }), "<= 64 MB (128 MB guest)"),
		single("  guest RAM resident (memory backend)", "MB", part(func(m podMem) float64 { return m.guestRAM }), ""),
		single("  TCG code buffer (none under KVM)", "MB", part(func(m podMem) float64 { return m.tcg }), ""),
		single("  QEMU's own (PSS)", "MB", part(func(m podMem) float64 { return m.qemu }), ""),
		single("  virtiofsd (PSS, less guest RAM)", "MB", part(func(m podMem) float64 { return m.virtiofsd }), ""),
		single("  shim (PSS)", "MB", part(func(m podMem) float64 { return m.shim }), ""),
	}
}

// idlePods is the density section: it starts idle VM pods one after
// another and, at each count asked for, reports the start time per pod
// (all so far, and those since the previous count), the host memory per
// pod (PSS of each pod's shim, QEMU and virtiofsd, and the same split by
// where it goes), MemAvailable before the first pod and now, and an exec
// into every pod. If a pod fails to start, the figures so far stand with
// a line that says where it stopped.
func (b *bench) idlePods(ctx context.Context) ([]Figure, error) {
	maxN := 0
	for _, n := range b.cfg.pods {
		maxN = max(maxN, n)
	}
	before, err := memAvailableMB()
	if err != nil {
		return nil, err
	}
	var ids []string
	defer func() { b.remove(ctx, ids) }()
	var times []float64
	var figs []Figure
	last := 0
	for i := 1; i <= maxN; i++ {
		id := fmt.Sprintf("idle-%d", i)
		d, err := b.detach(ctx, id, b.vmArgs()...)
		if err != nil {
			now, _ := memAvailableMB()
			figs = append(figs,
				single("idle UVM pods: started before one failed", "pods", []float64{float64(i - 1)}, ""),
				single("idle UVM pods: MemAvailable when it failed", "MB", []float64{now}, ""))
			return figs, fmt.Errorf("pod %d of %d: %w", i, maxN, err)
		}
		ids = append(ids, id)
		times = append(times, ms(d))
		if !containsInt(b.cfg.pods, i) {
			continue
		}
		// Idle means settled: the guest agent starts returning its free
		// memory to the host 10 s after boot.
		time.Sleep(idleSettle)
		p := snapshot()
		var pss []float64
		var split []podMem
		for _, id := range ids {
			shim, err := p.shim(harness.ShimName, b.c.Socket, id)
			if err != nil {
				return figs, err
			}
			v, err := pssMB(p.tree(shim)...)
			if err != nil {
				return figs, err
			}
			pss = append(pss, v)
			m, err := p.podMemory(shim, b.guestMB())
			if err != nil {
				return figs, err
			}
			split = append(split, m)
		}
		now, err := memAvailableMB()
		if err != nil {
			return figs, err
		}
		var execs []float64
		for _, id := range ids {
			d, err := b.ctr(ctx, "task", "exec", "--exec-id", fmt.Sprintf("x%d", i), id, "true")
			if err != nil {
				return figs, fmt.Errorf("exec into %s of %d idle pods: %w", id, i, err)
			}
			execs = append(execs, ms(d))
		}
		figs = append(figs,
			single(fmt.Sprintf("idle UVM pods, N=%d: ctr run -d time per pod", i), "ms", append([]float64(nil), times...), ""),
			single(fmt.Sprintf("  pods %d-%d alone", last+1, i), "ms", append([]float64(nil), times[last:]...), ""),
			single(fmt.Sprintf("  %s: host PSS per pod", b.guest()), "MB", pss, "<= 64 MB (128 MB guest)"),
			single("  MemAvailable before the first pod", "MB", []float64{before}, ""),
			single("  MemAvailable now", "MB", []float64{now}, ""),
			single("  MemAvailable drop per pod", "MB", []float64{(before - now) / float64(i)}, ""),
			single("  ctr task exec into each pod", "ms", execs, ""),
		)
		figs = append(figs, splitFigures(fmt.Sprintf("  idle UVM pods, N=%d, per pod", i), split)...)
		last = i
	}
	return figs, nil
}

// idleSettle is how long the idle pods figure waits before it reads the
// memory: past the agent's delay before it reports free memory (10 s),
// and the reporting's own pace.
const idleSettle = 20 * time.Second

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// shimMemory is the shim's own memory as a user sees it: one host-kernel
// task per shim with no other process running the same binary, winctr's
// shim and containerd's runc shim interleaved, each read 1 s and 16 s
// after ctr returns. USS is what ending the shim gives back; PSS adds its
// share of the pages it maps with others (its binary's, among shims of
// the same binary; libc's for runc's); RSS counts those shared pages
// whole.
func (b *bench) shimMemory(ctx context.Context) ([]Figure, error) {
	type reading struct{ early, late procMem }
	measure := func(id, binary string, runtimeArgs ...string) (reading, error) {
		if _, err := b.detach(ctx, id, runtimeArgs...); err != nil {
			return reading{}, err
		}
		defer b.remove(ctx, []string{id})
		pid, err := snapshot().shim(binary, b.c.Socket, id)
		if err != nil {
			return reading{}, err
		}
		var r reading
		time.Sleep(shimEarly)
		if r.early, err = rollup(pid); err != nil {
			return reading{}, err
		}
		time.Sleep(shimLate - shimEarly)
		if r.late, err = rollup(pid); err != nil {
			return reading{}, err
		}
		return r, nil
	}
	var w, r []reading
	for i := 0; i < min(b.cfg.runs, 3); i++ {
		m, err := measure(fmt.Sprintf("lone-w%d", i), harness.ShimName, "--runtime", harness.Runtime)
		if err != nil {
			return nil, err
		}
		w = append(w, m)
		if m, err = measure(fmt.Sprintf("lone-r%d", i), runcShim, "--runtime", runcRuntime); err != nil {
			return nil, err
		}
		r = append(r, m)
	}
	var figs []Figure
	for _, at := range []struct {
		name string
		get  func(reading) procMem
	}{{fmt.Sprint(shimEarly), func(x reading) procMem { return x.early }}, {fmt.Sprint(shimLate), func(x reading) procMem { return x.late }}} {
		for _, kind := range []struct {
			name string
			get  func(procMem) float64
		}{{"USS", func(m procMem) float64 { return m.uss }}, {"PSS", func(m procMem) float64 { return m.pss }}, {"RSS", func(m procMem) float64 { return m.rss }}} {
			mb := func(rs []reading) []float64 {
				var out []float64
				for _, x := range rs {
					out = append(out, kind.get(at.get(x))/1024)
				}
				return out
			}
			target := ""
			if kind.name != "RSS" {
				target = "ratio < 1"
			}
			figs = append(figs, paired(fmt.Sprintf("shim %s, lone host task, %s after start", kind.name, at.name), "MB",
				mb(w), "runc shim "+kind.name, mb(r), target))
		}
	}
	return figs, nil
}

// When shimMemory reads the shims: at once, and once the Go runtime's
// background work after start (its first forced GC comes after 2 min at
// the latest, the scavenger returns memory over seconds) has had a while.
const (
	shimEarly = 1 * time.Second
	shimLate  = 16 * time.Second
)
