package options

import (
	"testing"
)

func TestVMHostOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		want VMHost
	}{
		{"defaults", `isolation = "hypervisor"`, VMHost{}},
		{"all", `qemu_binary = "/opt/qemu/bin/qemu-system-x86_64"
virtiofsd_binary = "/usr/libexec/virtiofsd"
kernel_params = "loglevel=7 debug"
debug_shell = true
require_kvm = true
`, VMHost{QEMUBinary: "/opt/qemu/bin/qemu-system-x86_64", VirtiofsdBinary: "/usr/libexec/virtiofsd", KernelParams: "loglevel=7 debug", DebugShell: true, RequireKVM: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := DecodeTOML([]byte(tc.toml), true)
			if err != nil {
				t.Fatal(err)
			}
			// An annotation cannot reach these: they are not annotation keys.
			cfg, err := Resolve(o, map[string]string{"io.kubernetes.cri.sandbox-id": "p"})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.VM != tc.want {
				t.Errorf("VM = %+v, want %+v", cfg.VM, tc.want)
			}
		})
	}
	if _, err := DecodeTOML([]byte(`debug_shell = "yes"`), true); err == nil {
		t.Error("debug_shell = \"yes\" decoded; want a type error")
	}
}
