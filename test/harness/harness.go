//go:build linux

// Package harness runs a private containerd 2.x for winctr's end-to-end
// tests and demo: temporary root, state and sockets, winctr's shim on its
// PATH, the locally built busybox image imported, and a teardown that ends
// only what it started and reports what was left behind.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/lcow"
	"github.com/winctr/winctr/internal/lcow/bootfiles"
	"github.com/winctr/winctr/internal/runchost"
	"github.com/winctr/winctr/internal/vmpool"
	"github.com/winctr/winctr/test/image"
)

// Runtime is the runtime type tests pass to ctr.
const Runtime = "io.containerd.winctr.v1"

// Namespace is the containerd namespace the harness uses. It is unique to
// the test process: state that winctr keeps outside containerd's
// directories (VM and runc state under /run/containerd/winctr/<namespace>)
// would otherwise be shared with an earlier run that died, or with a run
// going on beside this one, and one run's leak checks would see the other's.
var Namespace = fmt.Sprintf("winctr-e2e-%d", os.Getpid())

// ShimName is the shim binary containerd looks up on its PATH.
const ShimName = "containerd-shim-winctr-v1"

// Containerd is a running private containerd.
type Containerd struct {
	Dir    string // everything lives under here
	Socket string
	Root   string
	State  string
	Log    string
	// Namespace is where its containers live: the package's Namespace, or
	// CRI's k8s.io.
	Namespace string
	repo      string
	ctr       string
	config    string
	cmd       *exec.Cmd
	exited    chan struct{}
	// preexisting are entries of winctr's shared state dirs that were there
	// before this containerd started (k8s.io is not unique to a run).
	preexisting map[string]bool
	cri         *CRI
}

// Repo finds the repository root (the directory holding go.mod).
func Repo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// tool finds containerd or ctr: the project's tools dir first, then PATH.
func tool(repo, name string) (string, error) {
	for _, dir := range []string{os.Getenv("WINCTR_TOOLS_BIN"), filepath.Join(repo, "_output", "tools", "bin")} {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found (run `make deps`): %w", name, err)
	}
	return p, nil
}

// closeStrayFDs marks every inherited descriptor above stderr close-on-exec,
// so containerd (and through it every shim) starts with only 0-2 open.
func closeStrayFDs() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// Start starts containerd and imports the test image. The caller must
// Close it, whatever happens.
func Start(ctx context.Context) (*Containerd, error) {
	return start(ctx, nil)
}

func start(ctx context.Context, cri *CRI) (*Containerd, error) {
	repo, err := Repo()
	if err != nil {
		return nil, err
	}
	shim := filepath.Join(repo, "bin", ShimName)
	if _, err := os.Stat(shim); err != nil {
		return nil, fmt.Errorf("%s missing (run `make build`): %w", shim, err)
	}
	// WINCTR_CONTAINERD picks another containerd build, e.g. an older
	// release to check the shim's compatibility with its start protocol.
	containerd := os.Getenv("WINCTR_CONTAINERD")
	if containerd == "" {
		if containerd, err = tool(repo, "containerd"); err != nil {
			return nil, err
		}
	}
	ctr, err := tool(repo, "ctr")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "winctr-e2e-")
	if err != nil {
		return nil, err
	}
	// 0711: the default 0700 of a temp dir keeps user-namespaced
	// containers from their rootfs.
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, err
	}
	c := &Containerd{
		Dir:       dir,
		Socket:    filepath.Join(dir, "containerd.sock"),
		Root:      filepath.Join(dir, "root"),
		State:     filepath.Join(dir, "state"),
		Log:       filepath.Join(dir, "containerd.log"),
		repo:      repo,
		ctr:       ctr,
		Namespace: Namespace,
		cri:       cri,
	}
	disabled := `"io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.podsandbox.controller.v1.podsandbox", "io.containerd.sandbox.controller.v1.shim", "io.containerd.nri.v1.nri"`
	extra := ""
	if cri != nil {
		c.Namespace = CRINamespace
		disabled = `"io.containerd.nri.v1.nri"`
		if extra, err = cri.setup(dir); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	c.preexisting = map[string]bool{}
	for _, p := range c.sharedState() {
		c.preexisting[p] = true
	}
	for _, dir := range c.socketDirs() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			c.preexisting[filepath.Join(dir, e.Name())] = true
		}
	}
	config := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = [%s]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  level = "debug"

[plugins."io.containerd.snapshotter.v1.overlayfs"]
  root_path = %q
%s`, c.Root, c.State, disabled, c.Socket, c.Socket+".ttrpc", filepath.Join(c.Root, "overlayfs"), extra)
	c.config = filepath.Join(dir, "config.toml")
	if err := os.WriteFile(c.config, []byte(config), 0o600); err != nil {
		return nil, err
	}
	if err := c.launch(ctx, containerd); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.importImage(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// launch starts containerd (the binary at path) on the config and waits
// until it answers. Its log is appended to, across restarts.
func (c *Containerd) launch(ctx context.Context, path string) error {
	logf, err := os.OpenFile(c.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	closeStrayFDs()
	cmd := exec.Command(path, "--config", c.config)
	// The project's tools dir is on the PATH too, for shims built there
	// (containerd's runc shim, the baseline of `make bench`).
	search := filepath.Join(c.repo, "bin") + ":" + filepath.Join(c.repo, "_output", "tools", "bin") + ":" + os.Getenv("PATH")
	cmd.Env = append(os.Environ(), "PATH="+search)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a test's signals do not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	exited := make(chan struct{})
	c.cmd, c.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return c.waitReady(ctx)
}

// Stop ends containerd (TERM, then KILL after 10 s) and leaves its shims,
// containers and state as they are, as a containerd restart or upgrade
// does; Resume starts it again.
func (c *Containerd) Stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// Resume starts containerd again on the same root and state after Stop.
func (c *Containerd) Resume(ctx context.Context) error {
	return c.launch(ctx, c.cmd.Path)
}

func (c *Containerd) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			return fmt.Errorf("containerd exited at start; log:\n%s", c.LogTail(40))
		default:
		}
		if r := c.Ctr(ctx, "version"); r.Err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("containerd did not answer within 30s; log:\n%s", c.LogTail(40))
}

func (c *Containerd) importImage(ctx context.Context) error {
	names := []string{image.Name}
	if c.cri != nil {
		names = append(names, image.PauseName)
	}
	for i, name := range names {
		tarPath := filepath.Join(c.Dir, fmt.Sprintf("image-%d.tar", i))
		if err := image.BuildFile(tarPath, "/bin/busybox", name); err != nil {
			return err
		}
		if r := c.Ctr(ctx, "images", "import", "--all-platforms", tarPath); r.Err != nil {
			return fmt.Errorf("import image %s: %v: %s", name, r.Err, r.Output())
		}
		if c.cri != nil {
			// CRI looks images up by their normalised, docker.io name.
			if r := c.Ctr(ctx, "images", "tag", name, "docker.io/"+name); r.Err != nil {
				return fmt.Errorf("tag image %s: %v: %s", name, r.Err, r.Output())
			}
		}
	}
	return nil
}

// Result is what one ctr command did.
type Result struct {
	Stdout, Stderr string
	Code           int
	Err            error
}

// Output is stdout and stderr together, for messages.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// CtrCmd returns a ctr command against this containerd.
func (c *Containerd) CtrCmd(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--address", c.Socket, "--namespace", c.Namespace}, args...)
	return exec.CommandContext(ctx, c.ctr, full...)
}

// Ctr runs ctr with stdin empty and a 60 s bound unless ctx is shorter.
func (c *Containerd) Ctr(ctx context.Context, args ...string) Result {
	return c.CtrInput(ctx, "", args...)
}

// CtrInput runs ctr with the given stdin.
func (c *Containerd) CtrInput(ctx context.Context, stdin string, args ...string) Result {
	return c.CtrWithin(ctx, 60*time.Second, stdin, args...)
}

// CtrWithin runs ctr with the given stdin, bounded by bound unless ctx is
// shorter: for a test whose subject is not speed, under a load that makes
// every command slow.
func (c *Containerd) CtrWithin(ctx context.Context, bound time.Duration, stdin string, args ...string) Result {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	cmd := c.CtrCmd(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: filterWarnings(errb.String()), Err: err}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.Code = exit.ExitCode()
	} else if err != nil {
		r.Code = -1
	}
	return r
}

// filterWarnings drops containerd's cgroup v1 deprecation notice, which ctr
// prints on every call on these hosts.
func filterWarnings(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "DEPRECATION") || l == "" {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// LogTail returns the last n lines of containerd's log.
func (c *Containerd) LogTail(n int) string {
	b, err := os.ReadFile(c.Log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cmdlines returns the command line of every process, by pid.
func cmdlines() map[int][]string {
	out := map[int][]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil {
			out[pid] = strings.Split(string(b), "\x00")
		}
	}
	return out
}

// Shims lists the pids of winctr shims serving this containerd.
func (c *Containerd) Shims() []int {
	var pids []int
	for pid, args := range cmdlines() {
		if filepath.Base(args[0]) != ShimName {
			continue
		}
		for i, a := range args {
			if a == "-address" && i+1 < len(args) && args[i+1] == c.Socket {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// vmDir is where winctr keeps the VMs of this containerd's namespace.
func (c *Containerd) vmDir() string { return filepath.Join(lcow.StateRoot, c.Namespace) }

// runcDir is where winctr keeps runc's state for this namespace.
func (c *Containerd) runcDir() string { return filepath.Join(runchost.DefaultRoot, c.Namespace) }

// VMDirs lists the state directories of this namespace's running VMs.
func (c *Containerd) VMDirs() []string {
	dirs, _ := filepath.Glob(filepath.Join(c.vmDir(), "vm-*"))
	return dirs
}

// VMProcesses lists QEMU and virtiofsd processes of this harness's VMs:
// their command lines name the VM state directory of its namespace.
func (c *Containerd) VMProcesses() []int { return c.VMProcessesOf("") }

// VMProcessesOf lists the VM processes whose command line also names
// program ("qemu-system", "virtiofsd"; "" for all).
func (c *Containerd) VMProcessesOf(program string) []int {
	var pids []int
	marker := c.vmDir() + "/"
	for pid, args := range cmdlines() {
		line := strings.Join(args, " ")
		if strings.Contains(line, marker) && strings.Contains(line, program) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Leaks lists what winctr left behind: live shims, mounts under the
// harness dir, task state directories, FIFOs and runc state.
func (c *Containerd) Leaks() []string {
	var leaks []string
	for _, pid := range c.Shims() {
		leaks = append(leaks, fmt.Sprintf("shim process %d", pid))
	}
	for _, pid := range c.VMProcesses() {
		leaks = append(leaks, fmt.Sprintf("VM process (qemu or virtiofsd) %d", pid))
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// containerd's state, and the VM state of this namespace: a
			// pod's share holds the containers' rootfs and bind mounts.
			// CRI's namespace (k8s.io) is every CRI run's on the host, so
			// there the VM state is not this run's alone.
			vmState := c.cri == nil && strings.HasPrefix(fields[4], c.vmDir()+"/")
			if len(fields) > 4 && (strings.HasPrefix(fields[4], c.State) || vmState) {
				leaks = append(leaks, "mount "+fields[4])
			}
		}
		f.Close()
	}
	taskDir := filepath.Join(c.State, "io.containerd.runtime.v2.task", c.Namespace)
	if entries, err := os.ReadDir(taskDir); err == nil {
		for _, e := range entries {
			leaks = append(leaks, "task state dir "+filepath.Join(taskDir, e.Name()))
		}
	}
	_ = filepath.WalkDir(c.State, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type()&os.ModeNamedPipe != 0 {
			leaks = append(leaks, "fifo "+p)
		}
		return nil
	})
	for _, p := range c.sharedState() {
		if !c.preexisting[p] {
			leaks = append(leaks, "winctr state "+p)
		}
	}
	leaks = append(leaks, c.deadSockets()...)
	leaks = append(leaks, c.containerCgroups()...)
	if c.cri != nil {
		leaks = append(leaks, c.cri.leaks()...)
	}
	return leaks
}

// sharedState lists the VM and runc state dirs of this namespace, which
// winctr keeps outside containerd's own directories.
func (c *Containerd) sharedState() []string {
	var out []string
	for _, dir := range []string{c.vmDir(), c.runcDir()} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return append(out, poolEntriesOf(vmpool.Root, c.Socket)...)
}

// poolEntriesOf lists the warm pool entries under root, waiting or claimed,
// of the containerd at socket: a pool's own directory stays, and other
// containerds on the host have pools too.
func poolEntriesOf(root, socket string) []string {
	var out []string
	entries, _ := filepath.Glob(filepath.Join(root, "*", "*-*"))
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(e, vmpool.ContainerdFile))
		if err == nil && strings.TrimPrefix(string(b), "unix://") == socket {
			out = append(out, e)
		}
	}
	return out
}

// Close stops containerd, ends the shims it started (by pid), unmounts
// what is left under the harness dir and removes it.
func (c *Containerd) Close() {
	c.Stop()
	for _, pid := range append(c.Shims(), c.VMProcesses()...) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// The namespace's own directories, once empty; what is still in them
	// is a leak the suite has reported.
	_ = os.Remove(c.vmDir())
	_ = os.Remove(c.runcDir())
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		var mounts []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 4 && strings.HasPrefix(fields[4], c.Dir) {
				mounts = append(mounts, fields[4])
			}
		}
		f.Close()
		for i := len(mounts) - 1; i >= 0; i-- {
			_ = unix.Unmount(mounts[i], unix.MNT_DETACH)
		}
	}
	if c.cri != nil {
		c.cri.close()
	} else {
		// containerd puts a namespace's containers under /<namespace>.
		removeEmptyCgroups("/" + c.Namespace)
	}
	_ = os.RemoveAll(c.Dir)
}

// BootFilesEnv names a boot files directory for the VM tests to boot from
// instead of the shim's default, e.g. those of a kernel under trial, left
// apart from the shared ones.
const BootFilesEnv = "WINCTR_BOOTFILES"

// BootFiles is the boot files directory the VM tests boot from.
func BootFiles() string {
	if dir := os.Getenv(BootFilesEnv); dir != "" {
		return dir
	}
	return lcow.DefaultBootFiles
}

// BootFilesOption is the runtime options line that points the shim at
// BootFiles, or "" when that is the shim's default.
func BootFilesOption() string {
	if dir := os.Getenv(BootFilesEnv); dir != "" {
		return fmt.Sprintf("boot_files_root_path = %q\n", dir)
	}
	return ""
}

// GuestKernelRelease is the release (uname -r) of the kernel in BootFiles.
func GuestKernelRelease() (string, error) {
	return bootfiles.KernelRelease(filepath.Join(BootFiles(), bootmanifest.KernelFile))
}

// BootFilesMissing says what is missing of the boot files the VM tests
// boot from (BootFiles), or "" when `make bootfiles` has run.
func BootFilesMissing() string {
	for _, f := range []string{bootmanifest.KernelFile, bootmanifest.InitrdFile} {
		if _, err := os.Stat(filepath.Join(BootFiles(), f)); err != nil {
			return err.Error()
		}
	}
	return ""
}

// RequireBootFiles skips a VM test where `make bootfiles` has not run.
func RequireBootFiles(t testing.TB) {
	t.Helper()
	if missing := BootFilesMissing(); missing != "" {
		t.Skipf("no boot files (make bootfiles): %s", missing)
	}
}
