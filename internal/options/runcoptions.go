package options

import (
	runcoptions "github.com/containerd/containerd/api/types/runc/options"

	optionsv1 "github.com/winctr/winctr/protos/options/v1"
)

// fromRuncOptions takes the runc shim's options, which containerd's CRI
// makes up to carry the stdio owner of a user-namespaced container
// (IoUid, IoGid) when the handler has no options table of its own: the
// runc binary and root map onto winctr's; the stdio owner winctr reads
// from the spec's id mappings itself. What winctr cannot honour is
// refused, not dropped.
func fromRuncOptions(o *runcoptions.Options) (*optionsv1.Options, error) {
	switch {
	case o.SystemdCgroup:
		return nil, invalid("runc option SystemdCgroup: winctr manages cgroups through cgroupfs only")
	case o.CriuImagePath != "" || o.CriuWorkPath != "":
		return nil, invalid("runc options CriuImagePath/CriuWorkPath: winctr has no checkpoint and restore")
	case o.NoPivotRoot:
		return nil, invalid("runc option NoPivotRoot is not supported")
	}
	return &optionsv1.Options{RuncBinary: o.BinaryName, RuncRoot: o.Root}, nil
}
