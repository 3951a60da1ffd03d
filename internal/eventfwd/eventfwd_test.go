package eventfwd

import (
	"context"
	"errors"
	"testing"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	eventsapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// flaky fails its first failures calls, as a containerd that is down.
type flaky struct {
	failures   int
	calls      int
	reconnects int
	got        []string
}

func (f *flaky) Forward(ctx context.Context, req *eventsapi.ForwardRequest) error {
	f.calls++
	if f.calls <= f.failures {
		return errors.New("connection refused")
	}
	f.got = append(f.got, req.Envelope.Topic)
	return nil
}

func (f *flaky) Reconnect() error { f.reconnects++; return nil }

func TestPublish(t *testing.T) {
	for _, tt := range []struct {
		name     string
		failures int
		timeout  time.Duration
		wantErr  bool
	}{
		{"containerd up", 0, time.Second, false},
		{"containerd back after a few tries", 3, 5 * time.Second, false},
		{"containerd never back: gives up when ctx ends", 1 << 30, 300 * time.Millisecond, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &flaky{failures: tt.failures}
			p := &Publisher{fwd: f}
			ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), "ns"), tt.timeout)
			defer cancel()
			err := p.Publish(ctx, "/tasks/exit", &eventstypes.TaskExit{ContainerID: "c", ExitStatus: 7})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Publish: %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && (len(f.got) != 1 || f.got[0] != "/tasks/exit") {
				t.Fatalf("delivered %v", f.got)
			}
			if tt.failures > 0 && f.reconnects == 0 {
				t.Fatal("no reconnect after a failed attempt")
			}
		})
	}
}

func TestPublishNeedsNamespace(t *testing.T) {
	p := &Publisher{fwd: &flaky{}}
	if err := p.Publish(context.Background(), "/tasks/exit", &eventstypes.TaskExit{}); err == nil {
		t.Fatal("an event without a namespace was published")
	}
}
