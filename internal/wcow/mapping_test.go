package wcow

import (
	"encoding/json"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/winctr/winctr/internal/hcs/schema"
)

func TestConsoleEvent(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		want string
		err  error
	}{
		{syscall.SIGKILL, "", nil},
		{syscall.SIGTERM, "CtrlShutdown", nil},
		{syscall.SIGINT, "CtrlC", nil},
		{syscall.SIGHUP, "CtrlClose", nil},
		{21, "CtrlBreak", nil},
		{syscall.Signal(10), "", errdefs.ErrInvalidArgument},
	} {
		got, err := consoleEvent(tc.sig)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("signal %d: got %q, %v; want %q, %v", tc.sig, got, err, tc.want, tc.err)
		}
	}
}

func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }

func TestUpdateRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  *specs.WindowsResources
		want string
		err  error
	}{
		{"memory", &specs.WindowsResources{Memory: &specs.WindowsMemoryResources{Limit: u64(100 << 20)}},
			`[{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update","Settings":100}]`, nil},
		{"cpu and memory", &specs.WindowsResources{
			Memory: &specs.WindowsMemoryResources{Limit: u64(1)},
			CPU:    &specs.WindowsCPUResources{Count: u64(2), Maximum: u16(2500)}},
			`[{"ResourcePath":"Container/Memory/SizeInMB","RequestType":"Update","Settings":1},` +
				`{"ResourcePath":"Container/Processor","RequestType":"Update","Settings":{"Count":2,"Maximum":2500}}]`, nil},
		{"storage", &specs.WindowsResources{Storage: &specs.WindowsStorageResources{Iops: u64(5)}}, "", errdefs.ErrNotImplemented},
		{"cpu maximum too large", &specs.WindowsResources{CPU: &specs.WindowsCPUResources{Maximum: u16(20000)}}, "", errdefs.ErrInvalidArgument},
		{"nothing", &specs.WindowsResources{}, "", errdefs.ErrInvalidArgument},
		{"nil", nil, "", errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reqs, err := updateRequests(tc.res)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("got %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(reqs)
			if string(b) != tc.want {
				t.Errorf("got %s\nwant %s", b, tc.want)
			}
		})
	}
}

func TestStatistics(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := statistics(&schema.Statistics{
		Timestamp:          start.Add(time.Minute),
		ContainerStartTime: start,
		Uptime100ns:        600_000_000,
		Processor:          &schema.ProcessorStats{TotalRuntime100ns: 30, RuntimeUser100ns: 20, RuntimeKernel100ns: 10},
		Memory:             &schema.MemoryStats{MemoryUsageCommitBytes: 1 << 20, MemoryUsagePrivateWorkingSetBytes: 1 << 19},
		Storage:            &schema.StorageStats{ReadSizeBytes: 4096, WriteCountNormalized: 3},
	})
	w := s.GetWindows()
	if w == nil {
		t.Fatal("no Windows statistics")
	}
	if w.UptimeNS != 60_000_000_000 || w.Processor.TotalRuntimeNS != 3000 || w.Processor.RuntimeKernelNS != 1000 ||
		w.Memory.MemoryUsageCommitBytes != 1<<20 || w.Memory.MemoryUsagePrivateWorkingSetBytes != 1<<19 ||
		w.Storage.ReadSizeBytes != 4096 || w.Storage.WriteCountNormalized != 3 ||
		!w.ContainerStartTime.AsTime().Equal(start) || !w.Timestamp.AsTime().Equal(start.Add(time.Minute)) {
		t.Errorf("got %+v", w)
	}
}
