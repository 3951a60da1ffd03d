package lcow

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// vmMountOptions are the mount options a container in a utility VM may
// use: the guest's crun applies them, and the host applies a bind's ro,
// rro, bind and rbind on its side (see bind). Shared propagation with the
// host and idmapped mounts are not among them: the guest's mounts are
// another kernel's (containerhost.CheckVMSpec refuses them).
var vmMountOptions = []string{
	"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
	"iversion", "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime",
	"noexec", "noiversion", "nolazytime", "nomand", "norelatime",
	"nostrictatime", "nosuid", "nosymfollow", "private", "rbind", "relatime",
	"remount", "ro", "rprivate", "rrelatime", "rro", "rslave", "rw",
	"rnoatime", "rnodev", "rnoexec", "rnosuid", "silent", "slave",
	"strictatime", "suid", "symfollow", "sync", "tmpcopyup", "unbindable",
	"runbindable",
}

// Features is the OCI features document of containers in a utility VM,
// which the shim's -info reports for hypervisor isolation: containerd's
// CRI reads it to offer the handler recursive read-only mounts (which the
// host's bind provides). It lists no user namespace: a pod with
// hostUsers: false is refused in a VM, since the guest cannot map ids
// over its share.
func Features() *features.Features {
	enabled := true
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		MountOptions:  append([]string(nil), vmMountOptions...),
		Linux: &features.Linux{
			Namespaces: []string{"cgroup", "ipc", "mount", "network", "pid", "uts"},
			Cgroup:     &features.Cgroup{V2: &enabled},
		},
	}
}
