//go:build linux

package runchost

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// featuresTimeout bounds `runc features`: containerd waits for the shim's
// -info, and CRI asks once per handler at start.
const featuresTimeout = 10 * time.Second

// Features returns the OCI features document of the runtime binary
// (runc_binary, or DefaultBinary): what containerd's CRI reads to offer a
// handler user namespaces and recursive read-only mounts, and what
// containerd checks before it creates a container with idmapped mounts.
func Features(ctx context.Context, binary string) (*features.Features, error) {
	if binary == "" {
		binary = DefaultBinary()
	}
	path, err := exec.LookPath(binary)
	if err != nil {
		return nil, fmt.Errorf("OCI runtime %q: %w", binary, err)
	}
	ctx, cancel := context.WithTimeout(ctx, featuresTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "features")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s features: %w (%s)", path, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var f features.Features
	if err := json.Unmarshal(out, &f); err != nil {
		return nil, fmt.Errorf("%s features: %w", path, err)
	}
	return &f, nil
}
