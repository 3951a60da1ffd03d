// Package bootfiles builds what an LCOW utility VM boots: a kernel (Debian's
// linux-image-cloud-amd64, or the project's own, hack/build-guest-kernel.sh)
// and an initrd (LZ4-compressed cpio newc) holding winctr's guest agent as
// /init and the kernel modules it loads.
package bootfiles

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/uvm"
)

// DefaultModules are what every LCOW guest on QEMU needs that the cloud
// kernel builds as modules: the serial port to the host, virtio-fs,
// overlay, the network, and the balloon whose free page reporting gives
// the host back the memory the guest freed.
var DefaultModules = []string{"virtio_console", "virtiofs", "overlay", "virtio_net", "virtio_balloon"}

// DefaultConditionalModules are loaded only where the guest needs them,
// keyed by the suffix of their list (ModulesListPath+key): the virtio bus
// of the machine (PCI, or MMIO on microvm) and the vsock transport when
// the host has vhost-vsock. The guest loads them one after another on
// its one vCPU, so each it skips shortens the boot
// (bench/results/design-measurements.md).
var DefaultConditionalModules = map[string][]string{
	uvm.ModulesPCI:   {"virtio_pci"},
	uvm.ModulesMMIO:  {"virtio_mmio"},
	uvm.ModulesVsock: {"vmw_vsock_virtio_transport"},
}

// DefaultNetAdminModules are what a container that manages its network
// expects of a Linux kernel (a privileged one, or one given CAP_NET_ADMIN:
// in a VM pod, the guest's privileges): bridges, veth pairs, tun/tap,
// macvlan and dummy links, and netfilter for nft and iptables. They are
// listed in ModulesListPath+uvm.ModulesNetAdmin, and the agent loads them
// before the first such container only, so other pods do not pay for them
// at boot.
var DefaultNetAdminModules = []string{
	"bridge", "br_netfilter", "veth", "tun", "macvlan", "dummy",
	"nf_tables", "nft_compat", "nft_chain_nat", "nft_nat", "nft_masq", "nft_ct",
	"ip_tables", "iptable_filter", "iptable_nat",
	"xt_MASQUERADE", "xt_conntrack", "xt_addrtype", "xt_tcpudp",
}

// DefaultHyperVModules are what an LCOW guest on Hyper-V (a Windows host)
// loads instead: VMBus, hvsocket, the SCSI disks that carry container
// layers, the network adapter, and overlay.
var DefaultHyperVModules = []string{"hv_vmbus", "hv_utils", "hv_sock", "hv_storvsc", "sd_mod", "hv_netvsc", "overlay"}

// optionalHyperVModules join DefaultHyperVModules when the kernel has them:
// 9p over hvsocket carries bind mounts from a Windows host (Debian's cloud
// kernel is built without it).
var optionalHyperVModules = []string{"9p", "9pnet_fd"}

// ModulesListPath is where, inside the initrd, the agent finds the modules
// to load, one path a line, in load order (uvm.ModulesList: the agent
// reads it from there).
const ModulesListPath = uvm.ModulesList

// Options says what to build.
type Options struct {
	// KernelRelease selects /boot/vmlinuz-<release> and
	// /lib/modules/<release>; empty picks the newest cloud kernel installed.
	KernelRelease string
	// Root is where /boot and /lib/modules are looked up ("/" normally),
	// and the runtime and its libraries.
	Root string
	// KernelRoot, when set, is where /boot and /lib/modules are looked up
	// instead of Root: the install tree of a kernel built apart from the
	// system's.
	KernelRoot string
	// Agent is the static winctr-gcs binary that becomes /init.
	Agent string
	// Modules are module names to include with their dependencies.
	Modules []string
	// HyperVModules are the modules of a guest on Hyper-V, listed in
	// ModulesListPath+uvm.ModulesHyperV.
	HyperVModules []string
	// ConditionalModules are listed in ModulesListPath+key each, less
	// what Modules loads already; nil: DefaultConditionalModules.
	ConditionalModules map[string][]string
	// NetAdminModules are listed in ModulesListPath+uvm.ModulesNetAdmin,
	// less what Modules loads already and those the kernel has built in
	// or lacks; nil: DefaultNetAdminModules, empty: none.
	NetAdminModules []string
	// Runtime is the host executable the guest agent runs as its OCI
	// runtime, put at RuntimePath in the guest; the shared libraries it
	// loads, if any, go to their own paths. Empty: DefaultRuntime;
	// NoRuntime: none (an initrd that boots but runs no containers).
	Runtime string
	// Out is the directory that receives kernel, initrd.img and the
	// manifest.
	Out string
	// Manifest is what the agent says of itself; nil asks the agent
	// (bootmanifest.FromAgent).
	Manifest *bootmanifest.Manifest
}

// RuntimePath is where the guest finds its OCI runtime (crun).
const RuntimePath = "/usr/bin/crun"

// DefaultRuntime is Debian's crun. `make bootfiles` passes a static build
// of the same source instead (hack/build-guest-crun.sh): Debian's loads
// ten shared libraries, and under TCG the guest's dynamic loader then
// weighs on every crun command (bench/results/design-measurements.md).
const DefaultRuntime = "/usr/bin/crun"

// NoRuntime as Options.Runtime builds an initrd without an OCI runtime.
const NoRuntime = "none"

// guestFile is a host file the initrd carries, and its path there.
type guestFile struct {
	host, guest string
}

// Build writes Out/kernel and Out/initrd.img.
func Build(o Options) error {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Modules == nil {
		o.Modules = DefaultModules
	}
	optional := []string(nil)
	if o.HyperVModules == nil {
		o.HyperVModules, optional = DefaultHyperVModules, optionalHyperVModules
	}
	m := o.Manifest
	if m == nil {
		am, err := bootmanifest.FromAgent(o.Agent)
		if err != nil {
			return err
		}
		m = &am
	}
	extra, err := runtimeFiles(o.Root, o.Runtime)
	if err != nil {
		return err
	}
	kroot := o.KernelRoot
	if kroot == "" {
		kroot = o.Root
	}
	release := o.KernelRelease
	if release == "" {
		var err error
		if release, err = NewestCloudKernel(kroot); err != nil {
			return err
		}
	}
	modDir := filepath.Join(kroot, "lib", "modules", release)
	depFile := filepath.Join(modDir, "modules.dep")
	order, err := ResolveModules(depFile, o.Modules)
	if err != nil {
		return err
	}
	hvOrder, err := resolveModules(depFile, o.HyperVModules, optional)
	if err != nil {
		return err
	}
	lists := map[string][]string{ModulesListPath: order, ModulesListPath + uvm.ModulesHyperV: hvOrder}
	if o.ConditionalModules == nil {
		o.ConditionalModules = DefaultConditionalModules
	}
	for suffix, mods := range o.ConditionalModules {
		more, err := ResolveModules(depFile, mods)
		if err != nil {
			return err
		}
		lists[ModulesListPath+suffix] = slices.DeleteFunc(more, func(m string) bool { return slices.Contains(order, m) })
	}
	if o.NetAdminModules == nil {
		o.NetAdminModules = DefaultNetAdminModules
	}
	// Those not in this kernel are left out: the guest goes without them.
	netAdmin, err := resolveModules(depFile, nil, o.NetAdminModules)
	if err != nil {
		return err
	}
	lists[ModulesListPath+uvm.ModulesNetAdmin] = slices.DeleteFunc(netAdmin, func(m string) bool { return slices.Contains(order, m) })
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	kernel := filepath.Join(kroot, "boot", "vmlinuz-"+release)
	if err := copyFile(kernel, filepath.Join(o.Out, bootmanifest.KernelFile)); err != nil {
		// The project's kernel comes from its build, Debian's from apt.
		if o.KernelRoot != "" {
			return fmt.Errorf("kernel (hack/build-guest-kernel.sh installs it under %s): %w", o.KernelRoot, err)
		}
		return fmt.Errorf("kernel (apt-get install linux-image-cloud-amd64): %w", err)
	}
	if err := writeVmlinux(kernel, filepath.Join(o.Out, bootmanifest.VmlinuxFile)); err != nil {
		return err
	}
	tmp := filepath.Join(o.Out, bootmanifest.InitrdFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := writeCompressed(f, func(w io.Writer) error {
		return writeInitrd(w, o.Agent, modDir, lists, extra)
	}); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(o.Out, bootmanifest.InitrdFile)); err != nil {
		return err
	}
	// Last: a manifest vouches for the kernel and initrd beside it.
	m.KernelRelease = release
	return bootmanifest.Write(o.Out, *m)
}

// writeVmlinux writes the uncompressed kernel unpacked from the bzImage
// kernel to dst, or removes a stale dst when there is none to unpack.
func writeVmlinux(kernel, dst string) error {
	img, err := os.ReadFile(kernel)
	if err != nil {
		return err
	}
	elf, ok, err := vmlinux(img)
	if err != nil {
		return fmt.Errorf("%s: %w", kernel, err)
	}
	if !ok {
		if err := os.Remove(dst); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	return os.WriteFile(dst, elf, 0o644)
}

// runtimeFiles are the OCI runtime's files in the guest: the executable
// (a path on root) at RuntimePath, and the loader and libraries it links,
// if any, at their own paths.
func runtimeFiles(root, runtime string) ([]guestFile, error) {
	if runtime == NoRuntime {
		return nil, nil
	}
	if runtime == "" {
		runtime = DefaultRuntime
	}
	paths, err := WithLibraries(root, runtime)
	if err != nil {
		return nil, fmt.Errorf("guest OCI runtime (apt-get install crun): %w", err)
	}
	files := []guestFile{{host: filepath.Join(root, runtime), guest: RuntimePath}}
	for _, p := range paths[1:] {
		files = append(files, guestFile{host: filepath.Join(root, p), guest: p})
	}
	return files, nil
}

// writeCompressed compresses what write writes, as LZ4. The initrd is
// compressed because every VM holds it twice over while it boots: QEMU
// keeps the file mapped for the VM's life (the firmware reads it from
// there), and the guest holds the image in its memory until the kernel
// has unpacked it. LZ4 because it unpacks fastest: it costs the guest
// least over the uncompressed archive, where gzip and zstd shrink it more
// but cost several times that (bench/results/design-measurements.md).
func writeCompressed(f io.Writer, write func(io.Writer) error) error {
	zw, err := newLZ4Writer(f)
	if err != nil {
		return err
	}
	if err := write(zw); err != nil {
		return err
	}
	return zw.Close()
}

// NewestCloudKernel returns the newest release that has both a kernel
// image and modules under root.
func NewestCloudKernel(root string) (string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "lib", "modules"))
	if err != nil {
		return "", fmt.Errorf("no kernel modules (apt-get install linux-image-cloud-amd64): %w", err)
	}
	var releases []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), "-cloud-amd64") {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, "boot", "vmlinuz-"+e.Name())); err == nil {
			releases = append(releases, e.Name())
		}
	}
	if len(releases) == 0 {
		return "", errors.New("no cloud kernel installed (apt-get install linux-image-cloud-amd64)")
	}
	return slices.MaxFunc(releases, compareReleases), nil
}

// moduleName normalises a module file or name: the kernel treats - and _
// alike.
func moduleName(s string) string {
	s = filepath.Base(s)
	for _, ext := range []string{".xz", ".zst", ".gz", ".ko"} {
		s = strings.TrimSuffix(s, ext)
	}
	return strings.ReplaceAll(s, "-", "_")
}

// ResolveModules reads modules.dep and returns the files (relative to the
// modules directory) of the named modules and everything they depend on,
// each after its dependencies. A module the kernel has built in (listed in
// modules.builtin beside modules.dep) needs no file and is left out: the
// agent has nothing to load for it.
func ResolveModules(depFile string, names []string) ([]string, error) {
	return resolveModules(depFile, names, nil)
}

// resolveModules is ResolveModules for the required names and for those
// of optional that the kernel has, as a module or built in; a module it
// lacks of optional is left out, not an error.
func resolveModules(depFile string, names, optional []string) ([]string, error) {
	builtin, err := builtinModules(filepath.Join(filepath.Dir(depFile), "modules.builtin"))
	if err != nil {
		return nil, err
	}
	f, err := os.Open(depFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	files := map[string]string{}  // name -> file
	deps := map[string][]string{} // name -> dependency names
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		file, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		name := moduleName(file)
		files[name] = file
		for _, d := range strings.Fields(rest) {
			deps[name] = append(deps[name], moduleName(d))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("module dependency cycle at %s", n)
		case 2:
			return nil
		}
		file, ok := files[n]
		if !ok && builtin[n] {
			state[n] = 2
			return nil
		}
		if !ok {
			return fmt.Errorf("module %s is not in %s", n, depFile)
		}
		state[n] = 1
		for _, d := range deps[n] {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[n] = 2
		order = append(order, file)
		return nil
	}
	for _, n := range names {
		if err := visit(moduleName(n)); err != nil {
			return nil, err
		}
	}
	for _, n := range optional {
		if _, ok := files[moduleName(n)]; !ok && !builtin[moduleName(n)] {
			continue
		}
		if err := visit(moduleName(n)); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// builtinModules reads the names of a kernel's built-in modules from its
// modules.builtin; a kernel without the file has none.
func builtinModules(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, line := range strings.Fields(string(b)) {
		names[moduleName(line)] = true
	}
	return names, nil
}

// epoch keeps the initrd reproducible.
var epoch = time.Unix(0, 0)

// writeInitrd writes the initrd: the agent as /init, the modules of every
// list once, each list (path -> module files in load order), and extra.
func writeInitrd(w io.Writer, agent, modDir string, lists map[string][]string, extra []guestFile) error {
	cw := cpio.NewWriter(w)
	dirs := map[string]bool{}
	var dir func(name string) error
	dir = func(name string) error {
		if name == "." || name == "/" || name == "" || dirs[name] {
			return nil
		}
		if err := dir(filepath.Dir(name)); err != nil {
			return err
		}
		dirs[name] = true
		return cw.WriteHeader(&cpio.Header{Name: name, Mode: cpio.TypeDir | 0o755, ModTime: epoch, Links: 2})
	}
	file := func(name string, mode cpio.FileMode, data []byte) error {
		if err := cw.WriteHeader(&cpio.Header{Name: name, Mode: cpio.TypeReg | mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := cw.Write(data)
		return err
	}
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "etc", "etc/winctr", "lib", "lib/modules", "newroot"} {
		if err := dir(d); err != nil {
			return err
		}
	}
	bin, err := os.ReadFile(agent)
	if err != nil {
		return fmt.Errorf("guest agent: %w", err)
	}
	if err := file("init", 0o755, bin); err != nil {
		return err
	}
	written := map[string]bool{}
	for _, path := range slices.Sorted(maps.Keys(lists)) {
		var list strings.Builder
		for _, m := range lists[path] {
			base, data, err := readModule(filepath.Join(modDir, m))
			if err != nil {
				return fmt.Errorf("module %s: %w", m, err)
			}
			name := "lib/modules/" + base
			if !written[name] {
				if err := file(name, 0o644, data); err != nil {
					return err
				}
				written[name] = true
			}
			list.WriteString("/" + name + "\n")
		}
		if err := file(path, 0o644, []byte(list.String())); err != nil {
			return err
		}
	}
	for _, f := range extra {
		// Symlinks are followed: the guest gets the file at each path.
		data, err := os.ReadFile(f.host)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(filepath.Clean(f.guest), "/")
		if err := dir(filepath.Dir(name)); err != nil {
			return err
		}
		if err := file(name, 0o755, data); err != nil {
			return err
		}
	}
	return cw.Close()
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
