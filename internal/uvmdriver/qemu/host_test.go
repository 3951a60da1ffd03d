//go:build linux

package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/winctr/winctr/internal/uvm"
)

func TestFindVirtiofsd(t *testing.T) {
	dir := t.TempDir()
	exe := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	debian, fedora := filepath.Join(dir, "debian"), exe("fedora")
	if err := os.WriteFile(debian, nil, 0o644); err != nil { // not executable
		t.Fatal(err)
	}
	old := VirtiofsdCandidates
	defer func() { VirtiofsdCandidates = old }()
	t.Setenv("PATH", dir)

	VirtiofsdCandidates = []string{filepath.Join(dir, "missing"), debian, fedora}
	if got, err := FindVirtiofsd(""); err != nil || got != fedora {
		t.Errorf("FindVirtiofsd() = %q, %v; want the first executable candidate %q", got, err, fedora)
	}
	VirtiofsdCandidates = []string{filepath.Join(dir, "missing")}
	if _, err := FindVirtiofsd(""); err == nil || !strings.Contains(err.Error(), "virtiofsd_binary") {
		t.Errorf("FindVirtiofsd() with none found: %v; want an error naming virtiofsd_binary", err)
	}
	onPath := exe("virtiofsd")
	if got, err := FindVirtiofsd(""); err != nil || got != onPath {
		t.Errorf("FindVirtiofsd() = %q, %v; want PATH's %q", got, err, onPath)
	}
	if got, err := FindVirtiofsd(fedora); err != nil || got != fedora {
		t.Errorf("FindVirtiofsd(configured) = %q, %v", got, err)
	}
	if _, err := FindVirtiofsd(filepath.Join(dir, "nope")); err == nil {
		t.Error("a configured virtiofsd that does not exist was accepted")
	}
}

func TestAccelerator(t *testing.T) {
	ctx := context.Background()
	require := uvm.Config{ID: "vm", Host: uvm.HostConfig{RequireAcceleration: true}}
	if err := accelerator(ctx, require, true); err != nil {
		t.Errorf("KVM usable, KVM required: %v", err)
	}
	if err := accelerator(ctx, require, false); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "require_kvm") {
		t.Errorf("no KVM, KVM required: %v; want a failed precondition naming require_kvm", err)
	}
	if err := accelerator(ctx, uvm.Config{ID: "vm"}, false); err != nil {
		t.Errorf("no KVM, not required: %v; want TCG with a warning", err)
	}
}

func TestArgsKernelParams(t *testing.T) {
	cfg := uvm.Config{ID: "vm-1", Kernel: "k", Initrd: "i", Host: uvm.HostConfig{KernelParams: " loglevel=7 "}}
	got := strings.Join(args(Q35, cfg, false, "/s/agent.sock", "/s/qmp.sock", "", 0), " ")
	if !strings.Contains(got, "-append "+GuestCmdline(false, DefaultCPUs)+" loglevel=7") {
		t.Errorf("kernel_params not appended to the command line: %s", got)
	}
}
