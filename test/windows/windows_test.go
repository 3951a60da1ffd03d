//go:build windows

// Package windows holds winctr's functional tests for Windows hosts: a
// real containerd on Windows Server runs Windows containers process
// isolated and Hyper-V isolated, and a Linux container in a utility VM,
// through winctr's shim, and afterwards HCS must hold nothing of ours.
// They need containerd running (WINCTR_CONTAINERD_ADDRESS, default
// containerd's pipe), the shim on PATH, and network access to pull the
// images; Hyper-V tests also need WINCTR_TEST_HYPERV=1 (a host that can
// run VMs) and LCOW needs the boot files. See .github/workflows/windows.yml.
package windows

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Microsoft/hcsshim/cmd/containerd-shim-runhcs-v1/stats"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"github.com/winctr/winctr/internal/hcs"
	"github.com/winctr/winctr/internal/lcow"
)

const runtime = "io.containerd.winctr.v1"

// Images the tests pull; nanoserver must match the host's Windows build.
var (
	nanoserver = envOr("WINCTR_NANOSERVER_IMAGE", "mcr.microsoft.com/windows/nanoserver:ltsc2022")
	busybox    = envOr("WINCTR_BUSYBOX_IMAGE", "docker.io/library/busybox:1.36")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type env struct {
	t      *testing.T
	ctx    context.Context
	client *containerd.Client
}

func setup(t *testing.T) *env {
	t.Helper()
	addr := envOr("WINCTR_CONTAINERD_ADDRESS", `\\.\pipe\containerd-containerd`)
	client, err := containerd.New(addr)
	if err != nil {
		t.Fatalf("containerd at %s: %v", addr, err)
	}
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), "winctr-test"), 20*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, client: client}
	t.Cleanup(e.checkNothingLeft)
	return e
}

func needHyperV(t *testing.T) {
	if os.Getenv("WINCTR_TEST_HYPERV") != "1" {
		t.Skip("Hyper-V isolation needs a host that runs VMs; set WINCTR_TEST_HYPERV=1 on one")
	}
}

// pull fetches and unpacks ref for platform with snapshotter.
func (e *env) pull(ref, platform, snapshotter string) containerd.Image {
	e.t.Helper()
	img, err := e.client.Pull(e.ctx, ref, containerd.WithPullUnpack, containerd.WithPlatform(platform), containerd.WithPullSnapshotter(snapshotter))
	if err != nil {
		e.t.Fatalf("pull %s: %v", ref, err)
	}
	return img
}

type run struct {
	id          string
	image       containerd.Image
	snapshotter string
	// platform, when set, is the spec's platform (linux/amd64 for LCOW)
	// instead of the host's.
	platform string
	opts     []oci.SpecOpts
	// stdin, when set, is the container's stdin.
	stdin io.Reader
}

func (r run) specOpts() []oci.SpecOpts {
	var opts []oci.SpecOpts
	if r.platform != "" {
		opts = append(opts, oci.WithDefaultSpecForPlatform(r.platform))
	}
	return append(append(opts, oci.WithImageConfig(r.image)), r.opts...)
}

// start creates and starts a container and returns its task, output and
// exit channel; everything is removed at the end of the test.
func (e *env) start(r run) (containerd.Task, *bytes.Buffer, <-chan containerd.ExitStatus) {
	e.t.Helper()
	c, err := e.client.NewContainer(e.ctx, r.id,
		containerd.WithImage(r.image),
		containerd.WithSnapshotter(r.snapshotter),
		containerd.WithNewSnapshot(r.id+"-snapshot", r.image),
		containerd.WithRuntime(runtime, nil),
		containerd.WithNewSpec(r.specOpts()...),
	)
	if err != nil {
		e.t.Fatalf("container %s: %v", r.id, err)
	}
	e.t.Cleanup(func() {
		if err := c.Delete(context.WithoutCancel(e.ctx), containerd.WithSnapshotCleanup); err != nil {
			e.t.Errorf("delete container %s: %v", r.id, err)
		}
	})
	var out bytes.Buffer
	task, err := c.NewTask(e.ctx, cio.NewCreator(cio.WithStreams(r.stdin, &out, &out)))
	if err != nil {
		e.t.Fatalf("task %s: %v", r.id, err)
	}
	e.t.Cleanup(func() {
		if _, err := task.Delete(context.WithoutCancel(e.ctx), containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			e.t.Errorf("delete task %s: %v", r.id, err)
		}
	})
	exit, err := task.Wait(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := task.Start(e.ctx); err != nil {
		e.t.Fatalf("start %s: %v", r.id, err)
	}
	return task, &out, exit
}

func (e *env) exitOf(ch <-chan containerd.ExitStatus, within time.Duration) uint32 {
	e.t.Helper()
	select {
	case st := <-ch:
		code, _, err := st.Result()
		if err != nil {
			e.t.Fatal(err)
		}
		return code
	case <-time.After(within):
		e.t.Fatalf("no exit within %s", within)
	}
	return 0
}

// checkNothingLeft fails when HCS still has a compute system of winctr's
// after the test removed everything: hcsdiag's view and HCS's own.
func (e *env) checkNothingLeft() {
	systems, err := hcs.List(context.Background(), `{"Owners":["`+hcs.Owner+`"]}`)
	if err != nil {
		e.t.Errorf("list compute systems: %v", err)
	}
	for _, s := range systems {
		e.t.Errorf("left behind in HCS: %s (%s)", s.Id, s.SystemType)
	}
	out, err := exec.Command("hcsdiag", "list").CombinedOutput()
	if err == nil && strings.Contains(string(out), "winctr-test-") {
		e.t.Errorf("hcsdiag list still shows winctr's systems:\n%s", out)
	}
}

// isolations are the ways a Windows container runs.
var isolations = []struct {
	name   string
	opts   []oci.SpecOpts
	hyperv bool
}{
	{"process", nil, false},
	{"hyperv", []oci.SpecOpts{oci.WithWindowsHyperV}, true},
}

// forEachIsolation runs test once per isolation, with a fresh env and the
// nanoserver image pulled.
func forEachIsolation(t *testing.T, test func(t *testing.T, e *env, img containerd.Image, iso []oci.SpecOpts, name string)) {
	for _, iso := range isolations {
		t.Run(iso.name, func(t *testing.T) {
			if iso.hyperv {
				needHyperV(t)
			}
			e := setup(t)
			test(t, e, e.pull(nanoserver, "windows/amd64", "windows"), iso.opts, iso.name)
		})
	}
}

func TestWindowsContainer(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, e *env, img containerd.Image, isoOpts []oci.SpecOpts, name string) {
		opts := append([]oci.SpecOpts{oci.WithProcessArgs("cmd", "/c", "echo hello from winctr& exit 3")}, isoOpts...)
		_, out, exit := e.start(run{id: "winctr-test-echo-" + name, image: img, snapshotter: "windows", opts: opts})
		if code := e.exitOf(exit, 5*time.Minute); code != 3 {
			t.Errorf("exit %d, want 3", code)
		}
		if !strings.Contains(out.String(), "hello from winctr") {
			t.Errorf("output %q", out.String())
		}
	})
}

func TestWindowsExecKillStats(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, e *env, img containerd.Image, isoOpts []oci.SpecOpts, name string) {
		// ping of the loopback address keeps the container busy.
		opts := append([]oci.SpecOpts{oci.WithProcessArgs("ping", "-t", "127.0.0.1")}, isoOpts...)
		task, _, exit := e.start(run{id: "winctr-test-busy-" + name, image: img, snapshotter: "windows", opts: opts})

		spec, err := task.Spec(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pspec := *spec.Process
		pspec.Args = []string{"cmd", "/c", "echo from exec& exit 5"}
		var execOut bytes.Buffer
		p, err := task.Exec(e.ctx, "exec-1", &pspec, cio.NewCreator(cio.WithStreams(nil, &execOut, &execOut)))
		if err != nil {
			t.Fatal(err)
		}
		pexit, err := p.Wait(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(e.ctx); err != nil {
			t.Fatal(err)
		}
		if code := e.exitOf(pexit, 2*time.Minute); code != 5 || !strings.Contains(execOut.String(), "from exec") {
			t.Errorf("exec: exit %d, output %q", code, execOut.String())
		}
		if _, err := p.Delete(e.ctx); err != nil {
			t.Errorf("delete exec: %v", err)
		}

		m, err := task.Metrics(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, err := typeurl.UnmarshalAny(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		st, ok := v.(*stats.Statistics)
		if !ok || st.GetWindows() == nil || st.GetWindows().GetProcessor().GetTotalRuntimeNS() == 0 {
			t.Errorf("metrics %T %+v: want Windows statistics with CPU time", v, v)
		}

		if err := task.Kill(e.ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if code := e.exitOf(exit, time.Minute); code == 0 {
			t.Errorf("killed container exited 0")
		}
	})
}

func TestLinuxContainerOnWindows(t *testing.T) {
	needHyperV(t)
	if _, err := os.Stat(lcow.DefaultBootFiles); err != nil {
		t.Skipf("LCOW boot files: %v (copy `make bootfiles` output there)", err)
	}
	e := setup(t)
	img := e.pull(busybox, "linux/amd64", "windows-lcow")
	_, out, exit := e.start(run{id: "winctr-test-lcow", image: img, snapshotter: "windows-lcow", platform: "linux/amd64",
		opts: []oci.SpecOpts{oci.WithProcessArgs("sh", "-c", "uname -s; exit 7")}})
	if code := e.exitOf(exit, 5*time.Minute); code != 7 {
		t.Errorf("exit %d, want 7", code)
	}
	if !strings.Contains(out.String(), "Linux") {
		t.Errorf("output %q: want the guest's Linux", out.String())
	}
}
