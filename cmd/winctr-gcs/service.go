//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/pkg/sys/reaper"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/winctr/winctr/internal/gcs"
	"github.com/winctr/winctr/internal/version"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// service implements the agent API.
type service struct {
	*gcs.Containers
	modules []string
}

// Ping reports the guest kernel, uptime and loaded modules, and the OCI
// runtime's version when asked.
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
		// The shim has checked the boot files' manifest; the agent's own
		// word is for diagnostics.
		ProtocolVersion: agent.ProtocolVersion,
		AgentVersion:    version.Version,
	}
	if !r.GetRuncVersion() {
		return resp, nil
	}
	if out, err := runReaped(exec.CommandContext(ctx, ociRuntime, "--version")); err == nil {
		resp.RuncVersion, _, _ = strings.Cut(string(out), "\n")
	}
	return resp, nil
}

// runReaped runs cmd and returns its output. PID 1's reaper collects every
// exit, so the exit status comes from it rather than from cmd.Wait.
func runReaped(cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	ec, err := reaper.Default.Start(cmd)
	if err != nil {
		return nil, err
	}
	status, err := reaper.Default.Wait(cmd, ec)
	if err != nil {
		return nil, err
	}
	if status != 0 {
		return out.Bytes(), fmt.Errorf("%s exited with %d", cmd.Path, status)
	}
	return out.Bytes(), nil
}

// Shutdown powers the VM off after answering, so that the host sees a
// clean stop instead of having to pull the plug.
func (s *service) Shutdown(ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
	go func() {
		time.Sleep(50 * time.Millisecond) // let the answer leave first
		unix.Sync()
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}()
	return &emptypb.Empty{}, nil
}
