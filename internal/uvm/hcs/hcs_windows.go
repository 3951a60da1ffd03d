//go:build windows

package hcs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/Microsoft/go-winio"
	"github.com/Microsoft/go-winio/pkg/guid"
	"github.com/containerd/log"

	"github.com/winctr/winctr/internal/hcs"
	"github.com/winctr/winctr/internal/hcs/schema"
	"github.com/winctr/winctr/internal/uvm"
)

// stopTimeout bounds a clean shutdown before the VM is terminated.
const stopTimeout = 10 * time.Second

// dialTimeout bounds one hvsocket connection to the guest: the agent
// listens from early boot on.
const dialTimeout = 30 * time.Second

// VM is a running utility VM.
type VM struct {
	sys *hcs.System
	// runtimeID is the VM's Hyper-V id: the hvsocket address of its guest.
	runtimeID guid.GUID
	session   *uvm.Session
}

// Start creates and starts the utility VM id from doc (built by
// WCOWUtilityVM or LCOWUtilityVM). grant are files the VM
// must open (its scratch disk), made accessible to it first. On failure
// nothing of the VM is left.
func Start(ctx context.Context, id string, doc *schema.ComputeSystem, grant ...string) (_ *VM, retErr error) {
	for _, f := range grant {
		if err := hcs.GrantVMAccess(id, f); err != nil {
			return nil, err
		}
	}
	sys, err := hcs.Create(ctx, id, doc)
	if err != nil {
		return nil, err
	}
	v := &VM{sys: sys}
	defer func() {
		if retErr != nil {
			_ = sys.Terminate(context.WithoutCancel(ctx))
			sys.Close()
		}
	}()
	if err := sys.Start(ctx); err != nil {
		return nil, err
	}
	props, err := sys.Properties(ctx)
	if err != nil {
		return nil, err
	}
	if v.runtimeID, err = guid.FromString(props.RuntimeId); err != nil {
		return nil, fmt.Errorf("utility VM %s: runtime id %q: %w", id, props.RuntimeId, err)
	}
	v.session = uvm.NewDialSession(func() (net.Conn, error) {
		dctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		defer cancel()
		return v.Dial(dctx, uvm.VsockPort)
	}, v.Exited())
	log.G(ctx).WithField("vm", id).WithField("runtime-id", props.RuntimeId).Debug("utility VM started")
	return v, nil
}

// ID is the compute system id of the VM.
func (v *VM) ID() string { return v.sys.ID() }

// System is the VM's compute system, for modifications (shares, disks).
func (v *VM) System() *hcs.System { return v.sys }

// Exited is closed when the VM has stopped.
func (v *VM) Exited() <-chan struct{} { return v.sys.Exited() }

// Dial connects to the guest's vsock port (a Linux guest's listener).
func (v *VM) Dial(ctx context.Context, port uint32) (net.Conn, error) {
	c, err := winio.Dial(ctx, &winio.HvsockAddr{VMID: v.runtimeID, ServiceID: winio.VsockServiceID(port)})
	if err != nil {
		return nil, fmt.Errorf("hvsocket to %s port %d: %w", v.ID(), port, err)
	}
	return c, nil
}

// Session is the transport to winctr's guest agent in a Linux VM: each
// stream an hvsocket connection of its own to the agent's port, ending
// with the VM.
func (v *VM) Session() *uvm.Session { return v.session }

// Stop stops the VM: a clean shutdown of its guest for up to stopTimeout,
// then termination. The handle is released either way.
func (v *VM) Stop(ctx context.Context) error {
	defer v.sys.Close()
	sctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	err := v.sys.Shutdown(sctx)
	if err == nil {
		select {
		case <-v.Exited():
			return nil
		case <-sctx.Done():
		}
	}
	if terr := v.sys.Terminate(ctx); terr != nil {
		return errors.Join(err, terr)
	}
	select {
	case <-v.Exited():
	case <-time.After(stopTimeout):
		return fmt.Errorf("utility VM %s: no exit after termination", v.ID())
	}
	return nil
}
