package lcow

import (
	"fmt"
	"testing"
)

// fakeACL keeps each file's access entries as a set of who may open it,
// as merging grants for one trustee into its entry does.
type fakeACL map[string]map[string]bool

func (a fakeACL) add(path, who string) error {
	if a[path] == nil {
		a[path] = map[string]bool{}
	}
	a[path][who] = true
	return nil
}

func (a fakeACL) GrantVM(vmID, path string) error { return a.add(path, "vm:"+vmID) }
func (a fakeACL) GrantVMGroup(path string) error  { return a.add(path, "Virtual Machines") }

// TestSharedLayerACLDoesNotGrow: a layer's disk is shared by every pod on
// the host, each in a VM of its own; its access list must not gain an
// entry per pod. A container's scratch is its VM's alone.
func TestSharedLayerACLDoesNotGrow(t *testing.T) {
	acl := fakeACL{}
	const layer, scratch = `C:\lcow\snapshots\1\layer.vhd`, `C:\lcow\snapshots\9\sandbox.vhdx`
	for pod := range 5 {
		if err := grantDisk(acl, fmt.Sprintf("pod%d@lcow", pod), layer, true); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(acl[layer]); n != 1 {
		t.Errorf("layer's access list has %d entries after 5 pods: %v", n, acl[layer])
	}
	if err := grantDisk(acl, "pod0@lcow", scratch, false); err != nil {
		t.Fatal(err)
	}
	if !acl[scratch]["vm:pod0@lcow"] || len(acl[scratch]) != 1 {
		t.Errorf("scratch's access list: %v", acl[scratch])
	}
}
