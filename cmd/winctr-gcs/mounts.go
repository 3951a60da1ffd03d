//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"

	agent "github.com/winctr/winctr/protos/agent/v1"
)

// mountRoot is the only tree the host may mount into: the agent's own
// state, never the guest's system directories.
const mountRoot = "/run/winctr"

// mountFlags are the fstab options that are flags of mount(2) rather than
// the filesystem's data.
var mountFlags = map[string]uintptr{
	"ro":     unix.MS_RDONLY,
	"nosuid": unix.MS_NOSUID,
	"nodev":  unix.MS_NODEV,
	"noexec": unix.MS_NOEXEC,
	"bind":   unix.MS_BIND,
	"rbind":  unix.MS_BIND | unix.MS_REC,
}

// guestTarget checks that target lies under mountRoot.
func guestTarget(target string) (string, error) {
	clean := filepath.Clean(target)
	if !filepath.IsAbs(target) || !strings.HasPrefix(clean, mountRoot+"/") {
		return "", fmt.Errorf("mount target %q is not under %s: %w", target, mountRoot, errdefs.ErrInvalidArgument)
	}
	return clean, nil
}

// splitOptions separates mount(2) flags from the filesystem's data.
func splitOptions(opts []string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			flags |= f
			continue
		}
		data = append(data, o)
	}
	return flags, strings.Join(data, ",")
}

// Mount mounts a filesystem under mountRoot.
func (s *service) Mount(ctx context.Context, r *agent.MountRequest) (*emptypb.Empty, error) {
	target, err := guestTarget(r.Target)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if r.Type == "" && r.Source == "" {
		return nil, errgrpc.ToGRPC(fmt.Errorf("mount on %s names neither a type nor a source: %w", target, errdefs.ErrInvalidArgument))
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	flags, data := splitOptions(r.Options)
	source := r.Source
	switch {
	case strings.HasPrefix(source, scsiSource):
		if source, err = scsiDevice(source, deviceWait); err != nil {
			return nil, errgrpc.ToGRPC(err)
		}
	case r.Type == "9p" && strings.HasPrefix(source, vsockSource):
		if err := mount9p(source, target, flags); err != nil {
			return nil, errgrpc.ToGRPC(err)
		}
		logf("mounted %s (9p) on %s", r.Source, target)
		return &emptypb.Empty{}, nil
	case r.Type == "overlay":
		if err := overlayDirs(r.Options); err != nil {
			return nil, errgrpc.ToGRPC(err)
		}
	}
	if err := unix.Mount(source, target, r.Type, flags, data); err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("mount %s (%s) on %s: %w", source, r.Type, target, err))
	}
	logf("mounted %s (%s) on %s", r.Source, r.Type, target)
	return &emptypb.Empty{}, nil
}

// Unmount unmounts a target under mountRoot; one that is not mounted is
// not an error, so that the host can retry.
func (s *service) Unmount(ctx context.Context, r *agent.UnmountRequest) (*emptypb.Empty, error) {
	target, err := guestTarget(r.Target)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	if err := unix.Unmount(target, 0); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return nil, errgrpc.ToGRPC(fmt.Errorf("unmount %s: %w", target, err))
	}
	logf("unmounted %s", target)
	return &emptypb.Empty{}, nil
}
