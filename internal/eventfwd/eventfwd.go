// Package eventfwd forwards a shim's events to containerd, one at a time
// and in order, holding each until containerd has taken it.
//
// containerd's own shim publisher retries an event five times over about
// 15 s and then drops it, and later events may go out before a retried
// one: an exit that happens while containerd is restarting for longer
// than that is never reported. A shim that outlives a containerd restart must keep
// its events until containerd is back.
package eventfwd

import (
	"context"
	"fmt"
	"time"

	eventsapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"github.com/containerd/containerd/v2/pkg/ttrpcutil"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
)

// Backoff bounds the wait between two attempts to deliver one event.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
	// callTimeout bounds one attempt, so a containerd that accepted the
	// connection but hangs does not hold the event forever.
	callTimeout = 5 * time.Second
)

// forwarder is the one call of containerd's events service used here.
type forwarder interface {
	Forward(ctx context.Context, req *eventsapi.ForwardRequest) error
	// Reconnect drops the connection so that the next Forward dials anew.
	Reconnect() error
}

// Publisher delivers events to containerd's ttrpc events service.
type Publisher struct {
	fwd forwarder
}

// New returns a Publisher to containerd's ttrpc address.
func New(address string, opts ...ttrpc.ClientOpts) (*Publisher, error) {
	client, err := ttrpcutil.NewClient(address, opts...)
	if err != nil {
		return nil, fmt.Errorf("events client for %s: %w", address, err)
	}
	return &Publisher{fwd: &ttrpcForwarder{client}}, nil
}

// Publish delivers one event, retrying with backoff until containerd takes
// it or ctx ends. The event keeps the time it happened at.
func (p *Publisher) Publish(ctx context.Context, topic string, event events.Event) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	any, err := typeurl.MarshalAnyToProto(event)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", topic, err)
	}
	req := &eventsapi.ForwardRequest{Envelope: &types.Envelope{
		Timestamp: protobuf.ToTimestamp(time.Now()),
		Namespace: ns,
		Topic:     topic,
		Event:     any,
	}}
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := p.fwd.Forward(cctx, req)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.G(ctx).WithField("topic", topic).WithField("attempts", attempt).Info("event delivered after containerd came back")
			}
			return nil
		}
		if attempt == 1 || attempt%20 == 0 {
			log.G(ctx).WithError(err).WithField("topic", topic).Warn("containerd did not take the event; holding it")
		}
		// A broken connection is not mended by itself.
		_ = p.fwd.Reconnect()
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s event not delivered after %d attempts: %w", topic, attempt, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

type ttrpcForwarder struct{ client *ttrpcutil.Client }

func (f *ttrpcForwarder) Forward(ctx context.Context, req *eventsapi.ForwardRequest) error {
	svc, err := f.client.EventsService()
	if err != nil {
		return err
	}
	_, err = svc.Forward(ctx, req)
	return err
}

func (f *ttrpcForwarder) Reconnect() error { return f.client.Reconnect() }
