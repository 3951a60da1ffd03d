package lcow

import (
	"slices"
	"testing"
)

// TestFeatures: a VM's features offer recursive read-only mounts, and
// nothing the VM refuses (shared propagation, idmapped mounts, user
// namespaces), so CRI never offers a pod what its create would refuse.
func TestFeatures(t *testing.T) {
	f := Features()
	if !slices.Contains(f.MountOptions, "rro") {
		t.Error("rro is not offered")
	}
	for _, o := range []string{"shared", "rshared", "idmap", "ridmap"} {
		if slices.Contains(f.MountOptions, o) {
			t.Errorf("%s is offered, and refused at create", o)
		}
	}
	if slices.Contains(f.Linux.Namespaces, "user") || f.Linux.MountExtensions != nil {
		t.Errorf("user namespaces or idmapped mounts offered: %+v", f.Linux)
	}
}
