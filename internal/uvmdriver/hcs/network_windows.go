//go:build windows

package hcs

import (
	"context"
	"fmt"

	"github.com/Microsoft/go-winio/pkg/guid"
	"github.com/Microsoft/hcsshim/hcn"
)

// AttachNetwork gives the VM a network adapter for every endpoint of the
// pod's HNS namespace nsID. A Windows guest also gets the namespace and
// configures the adapters itself; for a Linux guest the caller tells the
// guest agent the endpoints' addresses, which AttachNetwork returns.
func (v *VM) AttachNetwork(ctx context.Context, nsID string, windowsGuest bool) ([]*hcn.HostComputeEndpoint, error) {
	ns, err := hcn.GetNamespaceByID(nsID)
	if err != nil {
		return nil, fmt.Errorf("HNS namespace %s: %w", nsID, err)
	}
	ids, err := hcn.GetNamespaceEndpointIds(nsID)
	if err != nil {
		return nil, fmt.Errorf("endpoints of HNS namespace %s: %w", nsID, err)
	}
	if windowsGuest {
		if err := v.sys.Modify(ctx, AddGuestNetworkNamespace(ns)); err != nil {
			return nil, fmt.Errorf("network namespace %s in the guest: %w", nsID, err)
		}
	}
	var eps []*hcn.HostComputeEndpoint
	for _, id := range ids {
		ep, err := hcn.GetEndpointByID(id)
		if err != nil {
			return nil, fmt.Errorf("HNS endpoint %s: %w", id, err)
		}
		nic, err := guid.NewV4()
		if err != nil {
			return nil, err
		}
		if windowsGuest {
			if err := v.sys.Modify(ctx, PreAddNIC(nic.String(), ep)); err != nil {
				return nil, fmt.Errorf("prepare the guest for endpoint %s: %w", id, err)
			}
		}
		if err := v.sys.Modify(ctx, AddNIC(nic.String(), ep.Id, ep.MacAddress, windowsGuest)); err != nil {
			return nil, fmt.Errorf("network adapter for endpoint %s: %w", id, err)
		}
		eps = append(eps, ep)
	}
	return eps, nil
}
