//go:build linux

package gcs

import (
	"context"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"github.com/winctr/winctr/internal/containerhost"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// oomContainer is a container whose only behaviour is its OOM channel.
type oomContainer struct {
	containerhost.Container
	oom chan struct{}
}

func (c oomContainer) OOM() <-chan struct{} { return c.oom }

// TestWaitOOMTellsAnOOMFromADelete checks that WaitOOM answers an OOM
// event, and that the container's deletion (which closes its OOM
// channel) is answered as NotFound, not as an OOM.
func TestWaitOOMTellsAnOOMFromADelete(t *testing.T) {
	tests := []struct {
		name    string
		event   func(c oomContainer)
		wantErr error
	}{
		{"an OOM event", func(c oomContainer) { c.oom <- struct{}{} }, nil},
		{"the container deleted", func(c oomContainer) { close(c.oom) }, errdefs.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := oomContainer{oom: make(chan struct{}, 1)}
			s := NewContainers(Config{})
			s.conts["c1"] = &guestContainer{c: fake, deleted: make(chan struct{})}
			tt.event(fake)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := s.WaitOOM(ctx, &agent.ContainerRequest{ContainerId: "c1"})
			err = errgrpc.ToNative(err)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("WaitOOM: %v; want the OOM", err)
			case tt.wantErr != nil && !errdefs.IsNotFound(err):
				t.Fatalf("WaitOOM: %v; want NotFound", err)
			}
		})
	}
}
