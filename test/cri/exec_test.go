//go:build e2e

package cri

import (
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/test/harness"
)

// TestExecSyncWithBackgroundChild: an ExecSync whose command leaves a
// child running in the background returns with its output and exit code
// within its timeout, as with the runc shim: the exit is not held until a
// pipe the surviving child keeps open ends.
func TestExecSyncWithBackgroundChild(t *testing.T) {
	p := runPod(t, harness.HandlerProcess, "bgexec", nil)
	c := p.container(t, "app", 0, "sleep", "1000")
	start := time.Now()
	r, err := runtime.ExecSync(rpcCtx(t), &runtimeapi.ExecSyncRequest{ContainerId: c, Timeout: 5,
		Cmd: []string{"sh", "-c", "sleep 365d & echo started; exit 3"}})
	if err != nil {
		t.Fatalf("ExecSync after %s: %v", time.Since(start), err)
	}
	if r.ExitCode != 3 || strings.TrimSpace(string(r.Stdout)) != "started" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.ExitCode, r.Stdout, r.Stderr)
	}
	t.Logf("ExecSync returned after %s", time.Since(start))
	p.remove(t)
	cd.AssertNoLeaks(t)
}
