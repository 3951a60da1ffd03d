//go:build linux

package main

import (
	"context"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	agent "github.com/winctr/winctr/protos/agent/v1"
)

// service implements the agent API.
type service struct {
	modules []string
}

// Ping reports the guest kernel, uptime and loaded modules.
func (s *service) Ping(ctx context.Context, r *agent.PingRequest) (*agent.PingResponse, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return nil, err
	}
	var info unix.Sysinfo_t
	_ = unix.Sysinfo(&info)
	return &agent.PingResponse{
		KernelRelease: strings.TrimRight(string(u.Release[:]), "\x00"),
		UptimeMs:      (time.Duration(info.Uptime) * time.Second).Milliseconds(),
		ModulesLoaded: s.modules,
	}, nil
}
