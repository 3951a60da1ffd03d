package task

import (
	"context"
	"syscall"
	"testing"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/options"
)

// slowDeleteHost's containers take until release is closed to delete, as
// a rootfs whose unmount outlasts containerd's wait does.
type slowDeleteHost struct {
	fakeHost
	entered, release chan struct{}
}

type slowDeleteContainer struct {
	*fakeContainer
	h *slowDeleteHost
}

func (h *slowDeleteHost) CreateContainer(ctx context.Context, req *containerhost.ContainerRequest) (containerhost.Container, error) {
	c, err := h.fakeHost.CreateContainer(ctx, req)
	if err != nil {
		return nil, err
	}
	return slowDeleteContainer{c.(*fakeContainer), h}, nil
}

func (c slowDeleteContainer) Delete(ctx context.Context) error {
	close(c.h.entered)
	<-c.h.release
	return c.fakeContainer.Delete(ctx)
}

// TestShutdownOwedToASlowDelete: containerd gives up on a task's delete
// that outlasts its wait, retries it (the task is gone: not found), and
// asks the shim to shut down while the first delete still runs. The shim
// must end once that delete does, not live on with nothing to serve.
func TestShutdownOwedToASlowDelete(t *testing.T) {
	h := newHarness(t)
	host := &slowDeleteHost{entered: make(chan struct{}), release: make(chan struct{})}
	h.svc.factory = func(context.Context, *options.Config) (containerhost.Host, error) { return host, nil }
	if _, err := h.svc.Create(h.ctx, &taskAPI.CreateTaskRequest{ID: "c1", Bundle: bundle(t, goodSpec())}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Start(h.ctx, &taskAPI.StartRequest{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Kill(h.ctx, &taskAPI.KillRequest{ID: "c1", Signal: uint32(syscall.SIGKILL)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Wait(h.ctx, &taskAPI.WaitRequest{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	firstDone := make(chan error, 1)
	go func() {
		_, err := h.svc.Delete(h.ctx, &taskAPI.DeleteRequest{ID: "c1"})
		firstDone <- err
	}()
	<-host.entered
	// containerd's retry, once its wait for the first ran out.
	if _, err := h.svc.Delete(h.ctx, &taskAPI.DeleteRequest{ID: "c1"}); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Fatalf("retried delete: %v", err)
	}
	if _, err := h.svc.Shutdown(h.ctx, &taskAPI.ShutdownRequest{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.sd.Done():
		t.Fatal("the shim ended while a delete still ran")
	case <-time.After(100 * time.Millisecond):
	}
	close(host.release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.sd.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the shim lived on after its last delete ended")
	}
	if !host.closed {
		t.Fatal("the host was not closed")
	}
}
