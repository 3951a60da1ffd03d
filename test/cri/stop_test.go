//go:build e2e

package cri

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/internal/faultpoint"
	"github.com/winctr/winctr/test/harness"
)

// TestSlowUnmountLeavesNoShim: a container whose rootfs unmount outlasts
// the 10 s CRI gives a task's delete (a fault point makes it take 15 s).
// StopPodSandbox and RemovePodSandbox succeed, on retry where they must,
// and the pod's shim then ends, as the runc shim does.
func TestSlowUnmountLeavesNoShim(t *testing.T) {
	p := runPod(t, harness.HandlerProcess, "slowumount", nil)
	p.container(t, "app", 0, "sleep", "1000")
	shim := podShim(t, p)
	armed := filepath.Join(faultPoints, faultpoint.ArmedFile)
	if err := os.WriteFile(armed, []byte("runc-unmount 15s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(armed) })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err1 := runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id})
		var err2 error
		if err1 == nil {
			_, err2 = runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id})
		}
		cancel()
		if err1 == nil && err2 == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pod could not be removed: %v %v", err1, err2)
		}
		t.Logf("retrying: %v %v", err1, err2)
		time.Sleep(time.Second)
	}
	_ = os.Remove(armed)
	for syscall.Kill(shim, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the pod's shim %d lives on after the pod was removed", shim)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cd.AssertNoLeaks(t)
}
