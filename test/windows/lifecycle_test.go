//go:build windows

package windows

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// TestKillAllWithExec is ctr task kill --all on a container with an exec
// running: HCS sends the exec no exit event when the compute system
// stops, yet both exits must be reported, and the deletes return.
func TestKillAllWithExec(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, e *env, img containerd.Image, isoOpts []oci.SpecOpts, name string) {
		opts := append([]oci.SpecOpts{oci.WithProcessArgs("ping", "-t", "127.0.0.1")}, isoOpts...)
		task, _, exit := e.start(run{id: "winctr-test-killall-" + name, image: img, snapshotter: "windows", opts: opts})

		spec, err := task.Spec(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pspec := *spec.Process
		pspec.Args = []string{"ping", "-t", "127.0.0.1"}
		p, err := task.Exec(e.ctx, "exec-busy", &pspec, cio.NewCreator(cio.WithStreams(nil, &bytes.Buffer{}, &bytes.Buffer{})))
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

		if err := task.Kill(e.ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil {
			t.Fatalf("kill --all: %v", err)
		}
		const within = 30 * time.Second
		e.exitOf(pexit, within)
		e.exitOf(exit, within)

		dctx, cancel := context.WithTimeout(e.ctx, within)
		defer cancel()
		if _, err := p.Delete(dctx); err != nil {
			t.Errorf("delete exec: %v", err)
		}
		if _, err := task.Delete(dctx); err != nil {
			t.Errorf("delete task: %v", err)
		}
	})
}

// TestStdinEOF pipes stdin through a container whose process reads it to
// its end: a Hyper-V isolated process sees EOF only when HCS closes its
// handle in the utility VM.
func TestStdinEOF(t *testing.T) {
	forEachIsolation(t, func(t *testing.T, e *env, img containerd.Image, isoOpts []oci.SpecOpts, name string) {
		// findstr prints the lines that match and exits at the end of its
		// input.
		opts := append([]oci.SpecOpts{oci.WithProcessArgs("findstr", "x")}, isoOpts...)
		_, out, exit := e.start(run{id: "winctr-test-stdin-" + name, image: img, snapshotter: "windows", opts: opts,
			stdin: strings.NewReader("ax\r\nno\r\nbx\r\n")})
		if code := e.exitOf(exit, 2*time.Minute); code != 0 {
			t.Errorf("exit %d, want 0", code)
		}
		if got := out.String(); !strings.Contains(got, "ax") || !strings.Contains(got, "bx") || strings.Contains(got, "no") {
			t.Errorf("output %q: want the lines with x", got)
		}
	})
}
