package wcow

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// namespaces is what a container's network needs of HNS.
type namespaces interface {
	CreateNamespace() (string, error)
	AddEndpoint(ns, endpoint string) error
	DeleteNamespace(ns string) error
}

// containerNamespace is the HNS namespace a container's network joins:
// the spec's (CRI's pod namespace) or, for a spec that names endpoints
// only (Docker's form), one made for them, since HCS attaches a
// container's network through a namespace; made says the caller deletes
// it with the container.
func containerNamespace(n *specs.WindowsNetwork, hns namespaces) (ns string, made bool, _ error) {
	if n == nil {
		return "", false, nil
	}
	if n.NetworkNamespace != "" || len(n.EndpointList) == 0 {
		return n.NetworkNamespace, false, nil
	}
	ns, err := hns.CreateNamespace()
	if err != nil {
		return "", false, fmt.Errorf("HNS namespace for endpoints %v: %w", n.EndpointList, err)
	}
	for _, ep := range n.EndpointList {
		if err := hns.AddEndpoint(ns, ep); err != nil {
			return "", false, errors.Join(fmt.Errorf("HNS endpoint %s into namespace %s: %w", ep, ns, err), hns.DeleteNamespace(ns))
		}
	}
	return ns, true, nil
}

// withNamespace is spec with its network in the HNS namespace ns; spec
// itself, containerd's, is left as it is.
func withNamespace(spec *specs.Spec, ns string) *specs.Spec {
	s, w, n := *spec, *spec.Windows, *spec.Windows.Network
	n.NetworkNamespace = ns
	w.Network, s.Windows = &n, &w
	return &s
}
