//go:build linux

package qemu

import (
	"strings"
	"testing"

	"github.com/winctr/winctr/internal/uvm"
)

func TestArgs(t *testing.T) {
	base := uvm.Config{ID: "vm-1", Kernel: "/b/kernel", Initrd: "/b/initrd.img"}
	sized := base
	sized.CPUs, sized.MemoryMB, sized.ShareDir = 2, 384, "/s/share"
	tests := []struct {
		name      string
		cfg       uvm.Config
		kvm       bool
		cid       uint32
		want, not []string
	}{
		{"tcg, serial channel, defaults", base, false, 0,
			[]string{"-machine q35,accel=tcg", "-cpu max", "-smp 1", "-m 512", "-no-reboot",
				"-chardev socket,id=agent,path=/s/agent.sock", "-device virtserialport,chardev=agent,name=agent",
				"-append console=ttyS0 panic=-1 quiet"},
			[]string{"vhost-vsock", "winctr.transport", "vhost-user-fs", "memory-backend-memfd"}},
		{"kvm, vsock channel, share, sized", sized, true, 42,
			[]string{"-machine q35,accel=kvm", "-cpu host", "-smp 2", "-m 384",
				"-device vhost-vsock-pci,guest-cid=42,vhostfd=3",
				"-append console=ttyS0 panic=-1 quiet winctr.transport=vsock",
				"-object memory-backend-memfd,id=mem,size=384M,share=on",
				"-device vhost-user-fs-pci,chardev=vfs,tag=share"},
			[]string{"virtserialport", "agent.sock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := ""
			if tt.cfg.ShareDir != "" {
				fs = "/s/virtiofs.sock"
			}
			got := " " + strings.Join(args(tt.cfg, tt.kvm, "/s/agent.sock", "/s/qmp.sock", fs, tt.cid), " ") + " "
			for _, w := range tt.want {
				if !strings.Contains(got, " "+w+" ") {
					t.Errorf("args lack %q:\n%s", w, got)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("args have %q:\n%s", n, got)
				}
			}
		})
	}
}
