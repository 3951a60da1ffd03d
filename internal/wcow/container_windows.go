//go:build windows

package wcow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apitask "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/winctr/winctr/internal/bundlestate"
	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/hcs"
	"github.com/winctr/winctr/internal/hcs/schema"
	"github.com/winctr/winctr/internal/stdio"
)

// stopTimeout bounds a container's clean shutdown before it is terminated.
const stopTimeout = 5 * time.Second

// container is a Windows container: an HCS compute system (a silo on the
// host, or hosted in the pod's utility VM).
type container struct {
	id     string
	bundle string
	sys    *hcs.System
	init   *process
	// release undoes the container's storage (layers, shares, scratch).
	release func(context.Context) error
	// namespace is the HNS namespace made for the container, if any.
	namespace string

	stopOnce sync.Once
}

var _ containerhost.Container = (*container)(nil)

func (c *container) Init() containerhost.Process { return c.init }

// OOM is nil: HCS reports no memory-limit events for Windows containers.
func (c *container) OOM() <-chan struct{} { return nil }

// watchInit stops the compute system when the init process exits, as a
// Linux container's processes die with its PID namespace: the silo would
// otherwise keep the execs running.
func (c *container) watchInit() {
	<-c.init.done
	c.stop(context.Background())
}

// stop shuts the compute system down, terminating it if the clean stop
// fails or takes longer than stopTimeout.
func (c *container) stop(ctx context.Context) {
	c.stopOnce.Do(func() {
		sctx, cancel := context.WithTimeout(ctx, stopTimeout)
		defer cancel()
		if err := c.sys.Shutdown(sctx); err == nil {
			select {
			case <-c.sys.Exited():
				return
			case <-sctx.Done():
			}
		}
		if err := c.sys.Terminate(ctx); err != nil {
			log.G(ctx).WithError(err).WithField("container", c.id).Warn("terminate container")
		}
	})
}

func (c *container) Exec(ctx context.Context, id string, spec *specs.Process, cfg stdio.Config) (containerhost.Process, error) {
	io, err := stdio.Open(ctx, "", id, cfg)
	if err != nil {
		return nil, err
	}
	return newProcess(c, spec, io), nil
}

func (c *container) Pause(ctx context.Context) error  { return c.sys.Pause(ctx) }
func (c *container) Resume(ctx context.Context) error { return c.sys.Resume(ctx) }

// Update applies new Windows resource limits (memory, CPU).
func (c *container) Update(ctx context.Context, resources *anypb.Any) error {
	v, err := typeurl.UnmarshalAny(resources)
	if err != nil {
		return fmt.Errorf("decode resources: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	res, ok := v.(*specs.WindowsResources)
	if !ok {
		return fmt.Errorf("resources of type %T on a Windows container: %w", v, errdefs.ErrInvalidArgument)
	}
	reqs, err := updateRequests(res)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if err := c.sys.Modify(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// Stats reads HCS's statistics of the container.
func (c *container) Stats(ctx context.Context) (*anypb.Any, error) {
	p, err := c.sys.Properties(ctx, schema.PropertyTypeStatistics)
	if err != nil {
		return nil, err
	}
	if p.Statistics == nil {
		return nil, fmt.Errorf("container %s: HCS returned no statistics: %w", c.id, errdefs.ErrUnavailable)
	}
	return typeurl.MarshalAnyToProto(statistics(p.Statistics))
}

// Pids lists the container's processes.
func (c *container) Pids(ctx context.Context) ([]*apitask.ProcessInfo, error) {
	p, err := c.sys.Properties(ctx, schema.PropertyTypeProcessList)
	if err != nil {
		return nil, err
	}
	out := make([]*apitask.ProcessInfo, 0, len(p.ProcessList))
	for _, d := range p.ProcessList {
		out = append(out, &apitask.ProcessInfo{Pid: d.ProcessId})
	}
	return out, nil
}

// Delete stops the compute system, releases it and the container's
// storage, and forgets the bundle's state.
func (c *container) Delete(ctx context.Context) error {
	c.stop(ctx)
	c.sys.Close()
	var errs []error
	if c.release != nil {
		errs = append(errs, c.release(ctx))
	}
	if c.namespace != "" {
		errs = append(errs, hns{}.DeleteNamespace(c.namespace))
	}
	errs = append(errs, bundlestate.Remove(c.bundle, stateFile))
	return errors.Join(errs...)
}
