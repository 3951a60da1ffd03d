package wcow

import (
	"fmt"
	"syscall"

	"github.com/Microsoft/hcsshim/cmd/containerd-shim-runhcs-v1/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/winctr/winctr/internal/hcs/schema"
)

// sigBreak is SIGBREAK as Windows numbers it (Ctrl-Break).
const sigBreak = syscall.Signal(21)

// consoleEvent maps the signal containerd sends to what a Windows process
// gets: a console control event, or "" for termination. Windows processes
// have no signals; these are the events Windows programs handle to stop
// cleanly, as with Docker and hcsshim on Windows.
func consoleEvent(sig syscall.Signal) (string, error) {
	switch sig {
	case syscall.SIGKILL:
		return "", nil
	case syscall.SIGTERM:
		return "CtrlShutdown", nil
	case syscall.SIGINT:
		return "CtrlC", nil
	case sigBreak:
		return "CtrlBreak", nil
	case syscall.SIGHUP:
		return "CtrlClose", nil
	}
	return "", fmt.Errorf("signal %d has no Windows equivalent (use TERM, INT, HUP, 21 for Ctrl-Break, or KILL): %w", int(sig), errdefs.ErrInvalidArgument)
}

// updateRequests maps new resource limits of a running Windows container
// to HCS modifications. Storage QoS cannot change on a running container.
func updateRequests(r *specs.WindowsResources) ([]*schema.ModifySettingRequest, error) {
	if r == nil {
		return nil, fmt.Errorf("no resources: %w", errdefs.ErrInvalidArgument)
	}
	if r.Storage != nil && (r.Storage.Iops != nil || r.Storage.Bps != nil || r.Storage.SandboxSize != nil) {
		return nil, fmt.Errorf("storage limits of a running Windows container cannot change: %w", errdefs.ErrNotImplemented)
	}
	var reqs []*schema.ModifySettingRequest
	if r.Memory != nil && r.Memory.Limit != nil {
		reqs = append(reqs, &schema.ModifySettingRequest{
			ResourcePath: schema.ResourcePathContainerMemory,
			RequestType:  schema.RequestTypeUpdate,
			Settings:     (*r.Memory.Limit + (1<<20 - 1)) >> 20,
		})
	}
	if c := r.CPU; c != nil && (c.Count != nil || c.Shares != nil || c.Maximum != nil) {
		var p schema.Processor
		if c.Count != nil {
			p.Count = int32(min(*c.Count, 1<<16))
		}
		if c.Shares != nil {
			p.Weight = int32(*c.Shares)
		}
		if c.Maximum != nil {
			p.Maximum = int32(*c.Maximum)
		}
		if p.Maximum > 10000 || p.Weight > 10000 {
			return nil, fmt.Errorf("cpu maximum %d / shares %d: want at most 10000: %w", p.Maximum, p.Weight, errdefs.ErrInvalidArgument)
		}
		reqs = append(reqs, &schema.ModifySettingRequest{
			ResourcePath: schema.ResourcePathContainerProcessor,
			RequestType:  schema.RequestTypeUpdate,
			Settings:     p,
		})
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("no memory or CPU limit to update: %w", errdefs.ErrInvalidArgument)
	}
	return reqs, nil
}

// statistics converts HCS's statistics into the type containerd's and
// CRI's Windows stats decode (hcsshim's, which runhcs also reports).
func statistics(s *schema.Statistics) *stats.Statistics {
	w := &stats.WindowsContainerStatistics{
		Timestamp:          timestamppb.New(s.Timestamp),
		ContainerStartTime: timestamppb.New(s.ContainerStartTime),
		UptimeNS:           s.Uptime100ns * 100,
	}
	if p := s.Processor; p != nil {
		w.Processor = &stats.WindowsContainerProcessorStatistics{
			TotalRuntimeNS:  p.TotalRuntime100ns * 100,
			RuntimeUserNS:   p.RuntimeUser100ns * 100,
			RuntimeKernelNS: p.RuntimeKernel100ns * 100,
		}
	}
	if m := s.Memory; m != nil {
		w.Memory = &stats.WindowsContainerMemoryStatistics{
			MemoryUsageCommitBytes:            m.MemoryUsageCommitBytes,
			MemoryUsageCommitPeakBytes:        m.MemoryUsageCommitPeakBytes,
			MemoryUsagePrivateWorkingSetBytes: m.MemoryUsagePrivateWorkingSetBytes,
		}
	}
	if st := s.Storage; st != nil {
		w.Storage = &stats.WindowsContainerStorageStatistics{
			ReadCountNormalized:  st.ReadCountNormalized,
			ReadSizeBytes:        st.ReadSizeBytes,
			WriteCountNormalized: st.WriteCountNormalized,
			WriteSizeBytes:       st.WriteSizeBytes,
		}
	}
	return &stats.Statistics{Container: &stats.Statistics_Windows{Windows: w}}
}
