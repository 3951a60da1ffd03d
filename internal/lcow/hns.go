package lcow

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/containerd/errdefs"

	agent "github.com/winctr/winctr/protos/agent/v1"
)

// hnsEndpoint is what a Linux guest needs of an HNS endpoint on a Windows
// host: the fields of HNS's own JSON that name the adapter and its
// addresses and routes.
type hnsEndpoint struct {
	MacAddress       string
	IpConfigurations []struct {
		IpAddress    string
		PrefixLength uint8
	}
	Routes []struct {
		NextHop           string
		DestinationPrefix string
	}
}

// guestNetworkFromHNS turns HNS endpoints (their JSON) into the agent's
// network configuration: each adapter, found by its MAC address, gets the
// endpoint's addresses and routes.
func guestNetworkFromHNS(endpoints [][]byte) (*agent.ConfigureNetworkRequest, error) {
	req := &agent.ConfigureNetworkRequest{}
	for _, b := range endpoints {
		var ep hnsEndpoint
		if err := json.Unmarshal(b, &ep); err != nil {
			return nil, fmt.Errorf("HNS endpoint: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if _, err := net.ParseMAC(ep.MacAddress); err != nil {
			return nil, fmt.Errorf("HNS endpoint MAC %q: %v: %w", ep.MacAddress, err, errdefs.ErrInvalidArgument)
		}
		in := &agent.Interface{Mac: ep.MacAddress}
		for _, ip := range ep.IpConfigurations {
			addr := net.ParseIP(ip.IpAddress)
			bits := 32
			if addr.To4() == nil {
				bits = 128
			}
			if addr == nil || int(ip.PrefixLength) > bits {
				return nil, fmt.Errorf("HNS endpoint address %s/%d: %w", ip.IpAddress, ip.PrefixLength, errdefs.ErrInvalidArgument)
			}
			in.Addresses = append(in.Addresses, fmt.Sprintf("%s/%d", ip.IpAddress, ip.PrefixLength))
		}
		req.Interfaces = append(req.Interfaces, in)
		for _, rt := range ep.Routes {
			dst := rt.DestinationPrefix
			if dst == "0.0.0.0/0" || dst == "::/0" {
				dst = "" // the agent's default route
			}
			req.Routes = append(req.Routes, &agent.Route{Destination: dst, Gateway: rt.NextHop, InterfaceMac: ep.MacAddress})
		}
	}
	return req, nil
}
