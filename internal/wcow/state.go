package wcow

import "fmt"

// stateFile is what a Windows container leaves in its bundle so that the
// delete bootstrap of a dead shim can undo it.
const stateFile = "winctr-wcow.json"

// state is the content of stateFile.
type state struct {
	// System is the container's compute system id.
	System  string   `json:"system"`
	Scratch string   `json:"scratch"`
	Parents []string `json:"parents"`
	// VM and VMDir are the pod's utility VM and its directory (Hyper-V
	// isolation only).
	VM    string `json:"vm,omitempty"`
	VMDir string `json:"vm_dir,omitempty"`
	// Namespace is the HNS namespace winctr made for the spec's
	// endpoints, deleted with the container.
	Namespace string `json:"namespace,omitempty"`
}

// SystemID is the HCS id of a container: containerd's id within its
// namespace, so that equal ids in two namespaces do not collide.
func SystemID(ns, id string) string {
	return fmt.Sprintf("%s-%s", ns, id)
}

// vmID is the HCS id of the utility VM of the pod whose first container
// is firstSystem.
func vmID(firstSystem string) string { return firstSystem + "@vm" }
