//go:build linux

package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/winctr/winctr/internal/uvm"
)

// VirtiofsdCandidates are where distributions install virtiofsd, in the
// order tried: Debian's and Ubuntu's QEMU package, then Fedora's, RHEL's
// and the Rust virtiofsd's packages.
var VirtiofsdCandidates = []string{"/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", "/usr/lib/virtiofsd"}

// FindVirtiofsd returns the virtiofsd to run: configured if set, else
// the first of VirtiofsdCandidates that exists, else virtiofsd on PATH.
func FindVirtiofsd(configured string) (string, error) {
	if configured != "" {
		return exec.LookPath(configured)
	}
	for _, c := range VirtiofsdCandidates {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	p, err := exec.LookPath("virtiofsd")
	if err != nil {
		return "", fmt.Errorf("no virtiofsd in %v or on PATH (Debian: apt-get install qemu-system-x86; elsewhere the virtiofsd package, or set virtiofsd_binary)", VirtiofsdCandidates)
	}
	return p, nil
}

// FindQEMU returns the QEMU system emulator to run: configured if set,
// else Binary on PATH.
func FindQEMU(configured string) (string, error) {
	name := Binary
	if configured != "" {
		name = configured
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("QEMU %s: %w (apt-get install qemu-system-x86, or set qemu_binary)", name, err)
	}
	return p, nil
}

// accelerator decides between KVM and TCG for a VM: KVM where usable;
// without it TCG, with a warning (every VM runs many times slower), or a
// refusal when the operator requires KVM.
func accelerator(ctx context.Context, cfg uvm.Config, kvm bool) error {
	if kvm {
		return nil
	}
	if cfg.Host.RequireAcceleration {
		return fmt.Errorf("/dev/kvm is not usable and the runtime's options set require_kvm: %w", errdefs.ErrFailedPrecondition)
	}
	log.G(ctx).WithField("vm", cfg.ID).Warn("/dev/kvm is not usable: the VM runs under TCG emulation, many times slower (set require_kvm to refuse instead)")
	return nil
}
