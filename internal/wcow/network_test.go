package wcow

import (
	"errors"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeHNS records what is asked of HNS.
type fakeHNS struct {
	calls   []string
	failAdd bool
}

func (f *fakeHNS) CreateNamespace() (string, error) {
	f.calls = append(f.calls, "create")
	return "ns-1", nil
}

func (f *fakeHNS) AddEndpoint(ns, ep string) error {
	f.calls = append(f.calls, "add "+ns+" "+ep)
	if f.failAdd {
		return errors.New("endpoint in use")
	}
	return nil
}

func (f *fakeHNS) DeleteNamespace(ns string) error {
	f.calls = append(f.calls, "delete "+ns)
	return nil
}

func TestContainerNamespace(t *testing.T) {
	for _, tc := range []struct {
		name    string
		net     *specs.WindowsNetwork
		failAdd bool
		wantNS  string
		made    bool
		calls   []string
		wantErr bool
	}{
		{"no network", nil, false, "", false, nil, false},
		{"the pod's namespace", &specs.WindowsNetwork{NetworkNamespace: "pod-ns", EndpointList: []string{"e1"}}, false, "pod-ns", false, nil, false},
		// Docker-style specs name endpoints only: HCS attaches a
		// container's network through a namespace, so one is made.
		{"endpoints only", &specs.WindowsNetwork{EndpointList: []string{"e1", "e2"}}, false, "ns-1", true, []string{"create", "add ns-1 e1", "add ns-1 e2"}, false},
		{"an endpoint refused", &specs.WindowsNetwork{EndpointList: []string{"e1"}}, true, "", false, []string{"create", "add ns-1 e1", "delete ns-1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hns := &fakeHNS{failAdd: tc.failAdd}
			ns, made, err := containerNamespace(tc.net, hns)
			if (err != nil) != tc.wantErr || ns != tc.wantNS || made != tc.made {
				t.Errorf("got %q, %v, %v", ns, made, err)
			}
			if !slices.Equal(hns.calls, tc.calls) {
				t.Errorf("HNS calls %v, want %v", hns.calls, tc.calls)
			}
		})
	}
}

func TestWithNamespaceKeepsTheSpec(t *testing.T) {
	spec := &specs.Spec{Windows: &specs.Windows{Network: &specs.WindowsNetwork{EndpointList: []string{"e1"}}}}
	got := withNamespace(spec, "ns-1")
	if got.Windows.Network.NetworkNamespace != "ns-1" || spec.Windows.Network.NetworkNamespace != "" {
		t.Errorf("namespace %q, containerd's spec's %q", got.Windows.Network.NetworkNamespace, spec.Windows.Network.NetworkNamespace)
	}
}
