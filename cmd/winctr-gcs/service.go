//go:build linux

package main

import (
	"context"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	agent "github.com/winctr/winctr/protos/agent/v1"
)

// service implements the agent API.
type service struct {
	modules      []string
	shareMounted bool
}

// Ping reports the guest kernel, uptime and loaded modules.
func (s *service) Ping(ctx context.Context, r *agent.PingRequest) (*agent.PingResponse, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return nil, err
	}
	var info unix.Sysinfo_t
	_ = unix.Sysinfo(&info)
	resp := &agent.PingResponse{
		KernelRelease: strings.TrimRight(string(u.Release[:]), "\x00"),
		UptimeMs:      (time.Duration(info.Uptime) * time.Second).Milliseconds(),
		ModulesLoaded: s.modules,
		ShareMounted:  s.shareMounted,
	}
	if out, err := exec.CommandContext(ctx, "runc", "--version").Output(); err == nil {
		resp.RuncVersion, _, _ = strings.Cut(string(out), "\n")
	}
	return resp, nil
}
