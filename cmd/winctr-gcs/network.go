//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/vishvananda/netlink"
	"google.golang.org/protobuf/types/known/emptypb"

	agent "github.com/winctr/winctr/protos/agent/v1"
)

// bringUpLoopback sets lo up: the pod's containers share the guest's
// network namespace, loopback included.
func bringUpLoopback() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(lo)
}

// ConfigureNetwork gives the guest's NICs the pod's addresses and routes.
func (s *service) ConfigureNetwork(ctx context.Context, r *agent.ConfigureNetworkRequest) (*emptypb.Empty, error) {
	for _, in := range r.Interfaces {
		link, err := interfaceFor(in)
		if err != nil {
			return nil, errgrpc.ToGRPC(err)
		}
		if in.Mtu != 0 {
			if err := netlink.LinkSetMTU(link, int(in.Mtu)); err != nil {
				return nil, errgrpc.ToGRPC(fmt.Errorf("MTU %d on %s: %w", in.Mtu, link.Attrs().Name, err))
			}
		}
		for _, a := range in.Addresses {
			addr, err := netlink.ParseAddr(a)
			if err != nil {
				return nil, errgrpc.ToGRPC(fmt.Errorf("address %q: %v: %w", a, err, errdefs.ErrInvalidArgument))
			}
			if err := netlink.AddrAdd(link, addr); err != nil {
				return nil, errgrpc.ToGRPC(fmt.Errorf("address %s on %s: %w", a, link.Attrs().Name, err))
			}
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return nil, errgrpc.ToGRPC(fmt.Errorf("%s up: %w", link.Attrs().Name, err))
		}
		logf("interface %s (%s): %s", link.Attrs().Name, in.Mac, strings.Join(in.Addresses, " "))
	}
	for _, rt := range r.Routes {
		route, err := parseRoute(rt)
		if err != nil {
			return nil, errgrpc.ToGRPC(err)
		}
		if err := netlink.RouteAdd(route); err != nil {
			return nil, errgrpc.ToGRPC(fmt.Errorf("route %v: %w", rt, err))
		}
		logf("route %q via %q", rt.Destination, rt.Gateway)
	}
	return &emptypb.Empty{}, nil
}

// parseRoute turns a route of the request into a netlink route.
func parseRoute(rt *agent.Route) (*netlink.Route, error) {
	link, err := linkByMAC(rt.InterfaceMac)
	if err != nil {
		return nil, err
	}
	route := &netlink.Route{LinkIndex: link.Attrs().Index}
	if rt.Destination != "" {
		_, dst, err := net.ParseCIDR(rt.Destination)
		if err != nil {
			return nil, fmt.Errorf("route destination %q: %v: %w", rt.Destination, err, errdefs.ErrInvalidArgument)
		}
		route.Dst = dst
	}
	if rt.Gateway != "" {
		if route.Gw = net.ParseIP(rt.Gateway); route.Gw == nil {
			return nil, fmt.Errorf("route gateway %q: %w", rt.Gateway, errdefs.ErrInvalidArgument)
		}
	}
	return route, nil
}

// linkByMAC finds the guest's interface with the given hardware address.
// interfaceFor finds the guest interface of in: by its boot MAC when the
// VM was booted for a pool (the interface then takes the pod's MAC, which
// its routes name), else by its MAC.
func interfaceFor(in *agent.Interface) (netlink.Link, error) {
	if in.BootMac == "" {
		return linkByMAC(in.Mac)
	}
	link, err := linkByMAC(in.BootMac)
	if err != nil {
		return nil, err
	}
	hw, err := net.ParseMAC(in.Mac)
	if err != nil {
		return nil, fmt.Errorf("MAC %q: %v: %w", in.Mac, err, errdefs.ErrInvalidArgument)
	}
	if err := netlink.LinkSetHardwareAddr(link, hw); err != nil {
		return nil, fmt.Errorf("MAC %s on %s: %w", in.Mac, link.Attrs().Name, err)
	}
	return netlink.LinkByIndex(link.Attrs().Index)
}

func linkByMAC(mac string) (netlink.Link, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return nil, fmt.Errorf("MAC %q: %v: %w", mac, err, errdefs.ErrInvalidArgument)
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if l.Attrs().HardwareAddr.String() == hw.String() {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no interface with MAC %s in the guest: %w", mac, errdefs.ErrNotFound)
}
