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

// connectTimeout bounds how long a Linux guest's agent has, from the VM's
// start, to connect.
const connectTimeout = 2 * time.Minute

// VM is a running utility VM.
type VM struct {
	sys     *hcs.System
	session *uvm.Session
}

// Start creates and starts the utility VM id from doc (built by
// WCOWUtilityVM or LCOWUtilityVM). grant are files the VM must open (its
// scratch disk), made accessible to it first. A VM without HCS's own
// guest connection runs winctr's agent, which dials out: Start listens
// for it on hvsocket before the VM starts and returns once the agent's
// session is up. On failure nothing of the VM is left.
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
	// The runtime id, the VM's Hyper-V id and the hvsocket address of
	// its guest, exists once the system is created.
	props, err := sys.Properties(ctx)
	if err != nil {
		return nil, err
	}
	runtimeID, err := guid.FromString(props.RuntimeId)
	if err != nil {
		return nil, fmt.Errorf("utility VM %s: runtime id %q: %w", id, props.RuntimeId, err)
	}
	agent := doc.VirtualMachine != nil && doc.VirtualMachine.GuestConnection == nil
	var ln net.Listener
	if agent {
		if ln, err = winio.ListenHvsock(&winio.HvsockAddr{VMID: runtimeID, ServiceID: winio.VsockServiceID(uvm.VsockPort)}); err != nil {
			return nil, fmt.Errorf("utility VM %s: listen for its agent: %w", id, err)
		}
		defer ln.Close()
	}
	if err := sys.Start(ctx); err != nil {
		return nil, err
	}
	if agent {
		actx, cancel := context.WithTimeout(ctx, connectTimeout)
		defer cancel()
		if v.session, err = uvm.AcceptSession(actx, ln, v.Exited()); err != nil {
			return nil, fmt.Errorf("utility VM %s: %w", id, err)
		}
	}
	log.G(ctx).WithField("vm", id).WithField("runtime-id", props.RuntimeId).Debug("utility VM started")
	return v, nil
}

// ID is the compute system id of the VM.
func (v *VM) ID() string { return v.sys.ID() }

// System is the VM's compute system, for modifications (shares, disks).
func (v *VM) System() *hcs.System { return v.sys }

// Exited is closed when the VM has stopped.
func (v *VM) Exited() <-chan struct{} { return v.sys.Exited() }

// Session is the transport to winctr's guest agent in a Linux VM: yamux
// streams over the hvsocket connection the agent made; nil for a Windows
// VM.
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
