//go:build windows

package wcow

import "github.com/Microsoft/hcsshim/hcn"

// hns is the host's HNS, for containerNamespace.
type hns struct{}

func (hns) CreateNamespace() (string, error) {
	ns, err := hcn.NewNamespace(hcn.NamespaceTypeHostDefault).Create()
	if err != nil {
		return "", err
	}
	return ns.Id, nil
}

func (hns) AddEndpoint(ns, endpoint string) error { return hcn.AddNamespaceEndpoint(ns, endpoint) }

// DeleteNamespace deletes a namespace winctr made; one already gone is
// not an error.
func (hns) DeleteNamespace(ns string) error {
	n, err := hcn.GetNamespaceByID(ns)
	if hcn.IsNotFoundError(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return n.Delete()
}
