// Package hostcheck checks whether a Linux host can run winctr's pods:
// each requirement of each isolation, with ok, warn or fail and what to
// do about it. The host is reached through Env, so the logic is tested
// with fakes.
package hostcheck

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/winctr/winctr/internal/bootmanifest"
)

// Status is a requirement's verdict.
type Status string

// Statuses, from best to worst.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Scopes say which pods need a requirement.
const (
	ScopeAll        = "all"
	ScopeProcess    = "process"
	ScopeHypervisor = "hypervisor"
	ScopeCRI        = "cri"
)

// Result is one requirement's verdict.
type Result struct {
	Name   string `json:"name"`
	Scope  string `json:"scope"`
	Status Status `json:"status"`
	// Detail is what was found; Fix what to do unless the status is ok.
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Env is the host as the checks see it.
type Env interface {
	LookPath(file string) (string, error)
	// Output runs a program and returns its standard output.
	Output(name string, args ...string) ([]byte, error)
	Stat(path string) (fs.FileInfo, error)
	// CanOpenRW tells whether path opens for reading and writing.
	CanOpenRW(path string) error
	Geteuid() int
	// ProbePortForward sets up and removes, in a network namespace of
	// its own, what port-forward to a VM pod needs (internal/portforward).
	ProbePortForward() error
}

// Config is what to check against.
type Config struct {
	// Containerd, Runc, QEMU and Virtiofsd are the programs to check;
	// empty looks them up as the shim and containerd would.
	Containerd, Runc, QEMU, Virtiofsd string
	// VirtiofsdCandidates are where the shim looks for virtiofsd.
	VirtiofsdCandidates []string
	// Shim is the shim binary's name, which containerd finds on its PATH.
	Shim string
	// BootFiles is the boot files directory; AgentProtocol the protocol
	// version this winctr's shim speaks.
	BootFiles     string
	AgentProtocol int
	// CNIDirs are where CNI plugins may be installed.
	CNIDirs []string
}

// Run checks every requirement, in a fixed order.
func Run(env Env, cfg Config) []Result {
	return []Result{
		checkRoot(env),
		checkContainerd(env, cfg.Containerd),
		checkShim(env, cfg.Shim),
		checkCgroup(env),
		checkRunc(env, cfg.Runc),
		checkQEMU(env, cfg.QEMU),
		checkKVM(env),
		checkVsock(env),
		checkVirtiofsd(env, cfg.Virtiofsd, cfg.VirtiofsdCandidates),
		checkBootFiles(env, cfg.BootFiles, cfg.AgentProtocol),
		checkCNI(env, cfg.CNIDirs),
		checkPortForward(env),
	}
}

// Failed tells whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

func checkRoot(env Env) Result {
	r := Result{Name: "root", Scope: ScopeAll, Status: OK, Detail: "running as root"}
	if env.Geteuid() != 0 {
		r.Status, r.Detail, r.Fix = Warn, fmt.Sprintf("running as uid %d: containerd runs the shim as root, and some checks below need root to be right", env.Geteuid()), "run winctr check as root"
	}
	return r
}

var semver = regexp.MustCompile(`v?(\d+)\.(\d+)\.(\d+)`)

// version finds the first x.y.z in s.
func version(s string) (string, int, bool) {
	m := semver.FindStringSubmatch(s)
	if m == nil {
		return "", 0, false
	}
	major, _ := strconv.Atoi(m[1])
	return strings.TrimPrefix(m[0], "v"), major, true
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func lookup(env Env, configured, name string) (string, error) {
	if configured != "" {
		name = configured
	}
	return env.LookPath(name)
}

func checkContainerd(env Env, configured string) Result {
	r := Result{Name: "containerd", Scope: ScopeAll}
	p, err := lookup(env, configured, "containerd")
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, "containerd not found", "install containerd 2.x, or name it with --containerd"
		return r
	}
	out, err := env.Output(p, "--version")
	v, major, ok := version(string(out))
	switch {
	case err != nil || !ok:
		r.Status, r.Detail, r.Fix = Fail, fmt.Sprintf("%s --version: %v %q", p, err, firstLine(out)), "install containerd 2.x"
	case major < 2:
		r.Status, r.Detail, r.Fix = Fail, fmt.Sprintf("%s is containerd %s", p, v), "winctr needs containerd 2.0 or later (the runtime v2 shim API with sandboxes and the imports of config drop-ins)"
	default:
		r.Status, r.Detail = OK, fmt.Sprintf("containerd %s (%s)", v, p)
	}
	return r
}

func checkShim(env Env, name string) Result {
	r := Result{Name: "shim", Scope: ScopeAll}
	p, err := env.LookPath(name)
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, name+" is not on PATH, where containerd looks for it", "make install (or put bin/"+name+" in /usr/local/bin)"
		return r
	}
	r.Status, r.Detail = OK, p
	return r
}

func checkCgroup(env Env) Result {
	r := Result{Name: "cgroups", Scope: ScopeAll, Status: OK}
	if _, err := env.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		r.Detail = "cgroup v2"
		return r
	}
	if _, err := env.Stat("/sys/fs/cgroup/memory"); err == nil {
		r.Detail = "cgroup v1 (both versions work)"
		return r
	}
	r.Status, r.Detail, r.Fix = Fail, "no cgroup hierarchy under /sys/fs/cgroup", "mount cgroup2 on /sys/fs/cgroup"
	return r
}

func checkRunc(env Env, configured string) Result {
	r := Result{Name: "runc", Scope: ScopeProcess}
	p, err := lookup(env, configured, "runc")
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, "runc not found", "apt-get install runc, or set runc_binary in the runtime's options"
		return r
	}
	out, err := env.Output(p, "--version")
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, fmt.Sprintf("%s --version: %v", p, err), "reinstall runc"
		return r
	}
	r.Status, r.Detail = OK, fmt.Sprintf("%s (%s)", firstLine(out), p)
	return r
}

func checkQEMU(env Env, configured string) Result {
	r := Result{Name: "qemu", Scope: ScopeHypervisor}
	p, err := lookup(env, configured, "qemu-system-x86_64")
	if err != nil {
		r.Status, r.Detail, r.Fix = Fail, "qemu-system-x86_64 not found", "apt-get install qemu-system-x86 (or set qemu_binary in the runtime's options)"
		return r
	}
	out, err := env.Output(p, "--version")
	v, major, ok := version(string(out))
	switch {
	case err != nil || !ok:
		r.Status, r.Detail, r.Fix = Fail, fmt.Sprintf("%s --version: %v", p, err), "reinstall QEMU"
	case major < 7:
		r.Status, r.Detail, r.Fix = Warn, fmt.Sprintf("QEMU %s (%s)", v, p), "winctr is tested with QEMU 7.2 (Debian 12); older QEMU may lack the virtio-balloon free page reporting or memfd backends it uses"
	default:
		r.Status, r.Detail = OK, fmt.Sprintf("QEMU %s (%s)", v, p)
	}
	return r
}

func checkKVM(env Env) Result {
	r := Result{Name: "kvm", Scope: ScopeHypervisor}
	if err := env.CanOpenRW("/dev/kvm"); err != nil {
		r.Status = Warn
		r.Detail = fmt.Sprintf("/dev/kvm is not usable (%v): VMs run under TCG emulation, which boots a VM in seconds rather than a fraction of one and runs its code many times slower", err)
		r.Fix = "enable KVM (modprobe kvm_intel or kvm_amd; nested virtualization on a cloud VM), or set require_kvm = true to refuse VM pods instead"
		return r
	}
	r.Status, r.Detail = OK, "/dev/kvm usable: VMs run with KVM"
	return r
}

func checkVsock(env Env) Result {
	r := Result{Name: "vhost-vsock", Scope: ScopeHypervisor, Status: OK}
	if _, err := env.Stat("/dev/vhost-vsock"); err != nil {
		r.Detail = "/dev/vhost-vsock absent: the agent's channel is a virtio-serial port (optional; modprobe vhost_vsock for AF_VSOCK)"
		return r
	}
	r.Detail = "/dev/vhost-vsock present: the agent's channel is AF_VSOCK"
	return r
}

func checkVirtiofsd(env Env, configured string, candidates []string) Result {
	r := Result{Name: "virtiofsd", Scope: ScopeHypervisor}
	if configured != "" {
		candidates = []string{configured}
	}
	for _, c := range candidates {
		if p, err := env.LookPath(c); err == nil {
			r.Status, r.Detail = OK, p
			return r
		}
	}
	if configured == "" {
		if p, err := env.LookPath("virtiofsd"); err == nil {
			r.Status, r.Detail = OK, p
			return r
		}
	}
	r.Status, r.Detail = Fail, fmt.Sprintf("no virtiofsd in %s or on PATH", strings.Join(candidates, ", "))
	r.Fix = "apt-get install qemu-system-x86 (Debian ships virtiofsd with it), or the virtiofsd package, or set virtiofsd_binary"
	return r
}

func checkBootFiles(env Env, dir string, protocol int) Result {
	r := Result{Name: "boot files", Scope: ScopeHypervisor}
	var missing []string
	for _, f := range []string{bootmanifest.KernelFile, bootmanifest.InitrdFile, bootmanifest.File} {
		if _, err := env.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, filepath.Join(dir, f))
		}
	}
	fix := "make bootfiles (or make install), or set boot_files_root_path"
	if len(missing) > 0 {
		r.Status, r.Detail, r.Fix = Fail, "missing: "+strings.Join(missing, ", "), fix
		return r
	}
	if err := bootmanifest.CheckAgent(dir, protocol); err != nil {
		r.Status, r.Detail, r.Fix = Fail, err.Error(), fix
		return r
	}
	m, _ := bootmanifest.Read(dir)
	r.Status, r.Detail = OK, fmt.Sprintf("%s: agent protocol %d (winctr %s), kernel %s", dir, m.AgentProtocol, m.AgentVersion, m.KernelRelease)
	return r
}

// cniPlugins are the plugins a typical CRI network config chains.
var cniPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

func checkCNI(env Env, dirs []string) Result {
	r := Result{Name: "cni plugins", Scope: ScopeCRI}
	for _, d := range dirs {
		var missing []string
		for _, p := range cniPlugins {
			if _, err := env.Stat(filepath.Join(d, p)); err != nil {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			r.Status, r.Detail = OK, fmt.Sprintf("%s in %s", strings.Join(cniPlugins, ", "), d)
			return r
		}
	}
	r.Status = Warn
	r.Detail = fmt.Sprintf("no directory of %s holds %s: CRI pods get no network (ctr run does not need it)", strings.Join(dirs, ", "), strings.Join(cniPlugins, ", "))
	r.Fix = "apt-get install containernetworking-plugins, and point containerd's CRI cni bin_dir at it"
	return r
}

func checkPortForward(env Env) Result {
	r := Result{Name: "port-forward", Scope: ScopeCRI}
	if err := env.ProbePortForward(); err != nil {
		r.Status = Warn
		r.Detail = fmt.Sprintf("a pod network namespace's loopback cannot be redirected to the shim (%v): port-forward to VM pods will not connect; the pods run", err)
		r.Fix = "a kernel with nf_tables NAT redirect (CONFIG_NF_TABLES, CONFIG_NFT_NAT, CONFIG_NFT_REDIR; modprobe nft_redir), and run as root"
		return r
	}
	r.Status, r.Detail = OK, "nftables redirects a pod network namespace's loopback to the shim: port-forward reaches VM pods"
	return r
}
