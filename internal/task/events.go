package task

import (
	"context"
	"time"

	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/log"
)

// Event order is a contract with containerd and its clients:
//
//	task: TaskCreate -> TaskStart -> TaskExit -> TaskDelete
//	exec: TaskExecAdded -> TaskExecStarted -> TaskExit
//	a task's TaskExit only after the TaskExit of every exec it started
//	TaskPaused / TaskResumed between TaskStart and TaskExit; TaskOOM any time
//
// The state machines in process.go and container.go decide when each event
// is queued; eventQueue only guarantees that events leave in the order they
// were queued, by publishing them from a single goroutine.
type eventQueue struct {
	ch     chan queuedEvent
	done   chan struct{}
	cancel context.CancelFunc
}

// closeGrace is how long close waits for containerd to take the events
// still queued; the publisher holds each event until containerd takes it,
// so a containerd that never comes back must not hold the shim's exit.
const closeGrace = 10 * time.Second

type queuedEvent struct {
	topic string
	event events.Event
}

// publisher is what the queue needs from containerd's event forwarder.
type publisher interface {
	Publish(ctx context.Context, topic string, event events.Event) error
}

// newEventQueue starts forwarding to p in namespace ns until close.
func newEventQueue(ctx context.Context, ns string, p publisher) *eventQueue {
	pctx, cancel := context.WithCancel(namespaces.WithNamespace(context.WithoutCancel(ctx), ns))
	q := &eventQueue{ch: make(chan queuedEvent, 256), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(q.done)
		for e := range q.ch {
			if err := p.Publish(pctx, e.topic, e.event); err != nil {
				log.G(ctx).WithError(err).WithField("topic", e.topic).Error("publish event")
			}
		}
	}()
	return q
}

// send queues an event; it blocks only when the forwarder is far behind.
func (q *eventQueue) send(topic string, e events.Event) {
	q.ch <- queuedEvent{topic: topic, event: e}
}

// close stops accepting events and waits until the queued ones are
// published, or closeGrace has passed.
func (q *eventQueue) close() {
	close(q.ch)
	select {
	case <-q.done:
	case <-time.After(closeGrace):
		q.cancel()
		<-q.done
	}
	q.cancel()
}
