//go:build linux || windows

package lcow

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/containerd/ttrpc"

	"github.com/winctr/winctr/internal/options"
)

func TestAgentCallsAreBounded(t *testing.T) {
	h := &Host{cfg: &options.Config{AgentTimeout: 50 * time.Millisecond}}
	// hang is an agent that never answers: the call ends with its context.
	hang := func(ctx context.Context, _ *ttrpc.Request, _ *ttrpc.Response) error {
		<-ctx.Done()
		return ctx.Err()
	}
	call := func(ctx context.Context, method string) (time.Duration, error) {
		start := time.Now()
		err := h.bounded(ctx, &ttrpc.Request{}, &ttrpc.Response{}, &ttrpc.UnaryClientInfo{FullMethod: method}, hang)
		return time.Since(start), err
	}

	took, err := call(context.Background(), "/winctr.agent.v1.Agent/ExecProcess")
	if !errors.Is(err, errAgentTimeout) || !errors.Is(err, context.DeadlineExceeded) || took > 5*time.Second {
		t.Errorf("unanswered call: %v after %s; want the agent timeout as a deadline error", err, took)
	}

	// A caller's own deadline, shorter or longer (the boot's first ping),
	// is its own business.
	for _, d := range []time.Duration{10 * time.Millisecond, 200 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		took, err := call(ctx, "/winctr.agent.v1.Agent/Ping")
		cancel()
		if errors.Is(err, errAgentTimeout) || took < d {
			t.Errorf("caller's deadline %s: %v after %s; want the caller's deadline to rule", d, err, took)
		}
	}

	// Long polls wait for an event, however long.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	if took, err := call(ctx, "/winctr.agent.v1.Agent/WaitProcess"); !errors.Is(err, context.Canceled) || took < 150*time.Millisecond {
		t.Errorf("long poll ended after %s with %v; want it to outlive the agent timeout", took, err)
	}
}
