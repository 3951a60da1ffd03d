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
	sized.NICs = []uvm.NIC{{MAC: "02:00:00:00:00:01"}, {MAC: "02:00:00:00:00:02"}}
	withNIC := base
	withNIC.NICs = []uvm.NIC{{MAC: "0a:58:0a:58:00:05"}}
	tests := []struct {
		name      string
		m         Machine
		cfg       uvm.Config
		kvm       bool
		cid       uint32
		want, not []string
	}{
		{"tcg, serial channel, defaults", Q35, base, false, 0,
			[]string{"-machine q35 -accel tcg,tb-size=64", "-cpu max", "-smp 1", "-m 512", "-no-reboot",
				"-device virtio-balloon-pci,free-page-reporting=on",
				"-chardev socket,id=agent,path=/s/agent.sock", "-device virtserialport,chardev=agent,name=agent",
				"-append " + KernelCmdline + " noapictimer"},
			[]string{"vhost-vsock", "winctr.transport", "vhost-user-fs", "memory-backend-memfd", "accel=tcg"}},
		{"kvm, vsock channel, share, sized", Q35, sized, true, 42,
			[]string{"-machine q35,accel=kvm", "-cpu host", "-smp 2", "-m 384",
				"-device vhost-vsock-pci,guest-cid=42,vhostfd=3",
				"-append " + KernelCmdline + " winctr.transport=vsock",
				"-object memory-backend-memfd,id=mem,size=384M,share=on", "-machine memory-backend=mem",
				"-device vhost-user-fs-pci,chardev=vfs,tag=share",
				"-netdev tap,id=net0,fd=4", "-device virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01,romfile=",
				"-netdev tap,id=net1,fd=5", "-device virtio-net-pci,netdev=net1,mac=02:00:00:00:00:02,romfile="},
			[]string{"virtserialport", "agent.sock", "noapictimer"}},
		{"tcg with two vCPUs keeps the APIC timers", Q35, sized, false, 0,
			[]string{"-smp 2", "-append " + KernelCmdline},
			[]string{"noapictimer"}},
		{"a NIC without vsock takes fd 3", Q35, withNIC, false, 0,
			[]string{"-netdev tap,id=net0,fd=3", "-device virtio-net-pci,netdev=net0,mac=0a:58:0a:58:00:05,romfile="},
			[]string{"net1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := ""
			if tt.cfg.ShareDir != "" {
				fs = "/s/virtiofs.sock"
			}
			checkArgs(t, args(tt.m, tt.cfg, tt.kvm, "/s/agent.sock", "/s/qmp.sock", fs, tt.cid), tt.want, tt.not)
		})
	}
}

func TestFloorArgs(t *testing.T) {
	tests := []struct {
		name      string
		kvm       bool
		want, not []string
	}{
		{"tcg", false,
			[]string{"-accel tcg,tb-size=64", "-smp 1", "-m 512", "-kernel /b/kernel", "-initrd /b/floor.img",
				"-append " + GuestCmdline(false, DefaultCPUs)},
			[]string{"-device", "-qmp", "-chardev"}},
		{"kvm", true,
			[]string{"-machine q35,accel=kvm", "-smp 1", "-append " + KernelCmdline},
			[]string{"-device", "noapictimer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkArgs(t, FloorArgs("/b/kernel", "/b/floor.img", tt.kvm), tt.want, tt.not)
		})
	}
}

// checkArgs fails t unless a holds each of want as whole flags and none
// of not anywhere.
func checkArgs(t *testing.T, a, want, not []string) {
	t.Helper()
	got := " " + strings.Join(a, " ") + " "
	for _, w := range want {
		if !strings.Contains(got, " "+w+" ") {
			t.Errorf("args lack %q:\n%s", w, got)
		}
	}
	for _, n := range not {
		if strings.Contains(got, n) {
			t.Errorf("args have %q:\n%s", n, got)
		}
	}
}
