// Package bootmanifest is the manifest beside a utility VM's boot files:
// what they hold (the guest agent's protocol and version, the kernel
// release), written by the boot files builder from what the agent says
// of itself and checked by the shim before it boots them. Small, as the
// guest agent links it.
package bootmanifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/containerd/errdefs"
)

// File, beside the kernel and initrd, records what the boot
// files hold: the agent's protocol and version, and the kernel release.
const File = "manifest.json"

// Names of the boot files beside File. VmlinuxFile, the uncompressed
// kernel, is there when it could be unpacked from the kernel; Hyper-V
// boots it directly, without firmware. They live here, not with the
// builder, so that the shim can name them without linking the builder's
// compressors.
const (
	KernelFile  = "kernel"
	InitrdFile  = "initrd.img"
	VmlinuxFile = "vmlinux"
)

// Manifest is File's content.
type Manifest struct {
	// AgentProtocol is the agent API version of the initrd's agent.
	AgentProtocol int `json:"agent_protocol"`
	// AgentVersion is winctr's version the agent was built from.
	AgentVersion  string `json:"agent_version"`
	KernelRelease string `json:"kernel_release,omitempty"`
}

// AgentVersionFlag makes the guest agent, run on the host, print its
// Manifest fields as JSON and exit.
const AgentVersionFlag = "-version"

// FromAgent runs the agent binary with AgentVersionFlag: the boot
// files record what the agent itself says.
func FromAgent(agent string) (Manifest, error) {
	var out bytes.Buffer
	cmd := exec.Command(agent, AgentVersionFlag)
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return Manifest{}, fmt.Errorf("ask the guest agent %s for its version: %w (an agent older than versioned boot files? rebuild it with make build)", agent, err)
	}
	var m Manifest
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || m.AgentProtocol == 0 {
		return Manifest{}, fmt.Errorf("the guest agent %s printed no version: %q", agent, out.String())
	}
	return m, nil
}

// Read reads dir's manifest.
func Read(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, File))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, File), err)
	}
	return m, nil
}

// Write writes dir's manifest, replacing any.
func Write(dir string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, File+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, File))
}

// CheckAgent refuses boot files whose agent speaks another protocol than
// want, or that do not say (built before boot files recorded it), with
// both versions and how to rebuild them.
func CheckAgent(dir string, want int) error {
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("boot files: %v (build them with `make bootfiles`): %w", err, errdefs.ErrFailedPrecondition)
	}
	m, err := Read(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("boot files in %s record no agent protocol version (built by an older winctr); this shim speaks version %d: rebuild them with `make bootfiles`: %w", dir, want, errdefs.ErrFailedPrecondition)
	}
	if err != nil {
		return fmt.Errorf("boot files: %v: %w", err, errdefs.ErrFailedPrecondition)
	}
	if m.AgentProtocol != want {
		return fmt.Errorf("boot files in %s carry an agent of protocol version %d (winctr %s); this shim speaks version %d: rebuild them with `make bootfiles`: %w", dir, m.AgentProtocol, m.AgentVersion, want, errdefs.ErrFailedPrecondition)
	}
	return nil
}
