package main

import (
	"context"

	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/winctr/winctr/internal/lcow"
	"github.com/winctr/winctr/internal/runchost"
	optionsv1 "github.com/winctr/winctr/protos/options/v1"
)

// runtimeFeatures is the OCI features document -info reports, as
// containerd's runc shim reports runc's: for process isolation, that of
// the host's runc (runc_binary), from which containerd's CRI offers the
// handler user namespaces (with idmapped mounts) and recursive read-only
// mounts. For hypervisor isolation it is the utility VM's (lcow.Features):
// recursive read-only mounts, which the host's binds provide, and no user
// namespaces. A runc that cannot say is no error, as with the runc shim:
// containerd then assumes nothing.
func runtimeFeatures(ctx context.Context, opts *optionsv1.Options) (*anypb.Any, error) {
	if opts.GetIsolation() == optionsv1.Options_ISOLATION_HYPERVISOR {
		return typeurl.MarshalAnyToProto(lcow.Features())
	}
	f, err := runchost.Features(ctx, opts.GetRuncBinary())
	if err != nil {
		log.G(ctx).WithError(err).Debug("the OCI runtime's features are unknown")
		return nil, nil
	}
	return typeurl.MarshalAnyToProto(f)
}
