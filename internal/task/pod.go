package task

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/winctr/winctr/internal/containerhost"
)

// checkPodMember refuses a workload container whose pod sandbox this shim
// does not run: its containers would have no pod to share. The caller
// holds s.mu.
func (s *Service) checkPodMember(id string, spec *specs.Spec) error {
	if spec.Annotations[containerhost.AnnotationContainerType] != containerhost.ContainerTypeContainer {
		return nil
	}
	sb := spec.Annotations[containerhost.AnnotationSandboxID]
	if s.sandbox != nil && s.sandbox.req.ID == sb {
		return nil // a pod of the Sandbox API
	}
	if _, ok := s.containers[sb]; !ok || sb == "" {
		return fmt.Errorf("container %q belongs to pod sandbox %q, which this shim does not run: %w", id, sb, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// addPodFiles mounts the pod's hostname, hosts and resolv.conf into a
// workload container of a Sandbox API pod (CRI does it only for pods with
// a pause container), rewriting the bundle's spec. The caller holds s.mu.
func (s *Service) addPodFiles(bundle string, spec *specs.Spec) error {
	if s.sandbox == nil || spec.Annotations[containerhost.AnnotationContainerType] != containerhost.ContainerTypeContainer ||
		spec.Annotations[containerhost.AnnotationSandboxID] != s.sandbox.req.ID {
		return nil
	}
	if !withPodFiles(spec, s.sandbox.req.Bundle) {
		return nil
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		return fmt.Errorf("add the pod's files to the spec: %w", err)
	}
	return nil
}
