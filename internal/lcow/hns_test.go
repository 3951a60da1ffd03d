package lcow

import (
	"testing"

	"github.com/containerd/errdefs"
	"google.golang.org/protobuf/proto"

	agent "github.com/winctr/winctr/protos/agent/v1"
)

func TestGuestNetworkFromHNS(t *testing.T) {
	ep := []byte(`{"ID":"e1f2a3b4","MacAddress":"00-15-5D-52-C0-00",
		"IpConfigurations":[{"IpAddress":"10.244.1.5","PrefixLength":24}],
		"Routes":[{"NextHop":"10.244.1.1","DestinationPrefix":"0.0.0.0/0"},{"NextHop":"10.244.1.2","DestinationPrefix":"10.96.0.0/12"}]}`)
	req, err := guestNetworkFromHNS([][]byte{ep})
	if err != nil {
		t.Fatal(err)
	}
	const mac = "00-15-5D-52-C0-00"
	want := &agent.ConfigureNetworkRequest{
		Interfaces: []*agent.Interface{{Mac: mac, Addresses: []string{"10.244.1.5/24"}}},
		Routes: []*agent.Route{
			{Gateway: "10.244.1.1", InterfaceMac: mac},
			{Destination: "10.96.0.0/12", Gateway: "10.244.1.2", InterfaceMac: mac},
		},
	}
	if !proto.Equal(req, want) {
		t.Errorf("got %v\nwant %v", req, want)
	}
	for _, bad := range []string{
		`{"MacAddress":"not-a-mac"}`,
		`{"MacAddress":"00-15-5D-52-C0-00","IpConfigurations":[{"IpAddress":"10.0.0.1","PrefixLength":33}]}`,
		`{"MacAddress":"00-15-5D-52-C0-00","IpConfigurations":[{"IpAddress":"nowhere","PrefixLength":8}]}`,
		`not json`,
	} {
		if _, err := guestNetworkFromHNS([][]byte{[]byte(bad)}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: got %v, want an invalid-argument error", bad, err)
		}
	}
}
