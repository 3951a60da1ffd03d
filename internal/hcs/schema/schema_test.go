package schema

import (
	"encoding/json"
	"testing"
)

// A process list as HCS returns it for a busy container: counters of a
// process that has committed more than 2 GiB and used minutes of CPU.
const busyProcessList = `{"Id":"c1","ProcessList":[{
	"ProcessId":4242,"ImageName":"sqlservr.exe","CreateTimestamp":"2026-01-02T03:04:05Z",
	"UserTime100ns":3600000000,"KernelTime100ns":2500000000,
	"MemoryCommitBytes":5368709120,"MemoryWorkingSetPrivateBytes":4294967296,"MemoryWorkingSetSharedBytes":3221225472}]}`

func TestProcessListDecodes(t *testing.T) {
	var p Properties
	if err := json.Unmarshal([]byte(busyProcessList), &p); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(p.ProcessList) != 1 {
		t.Fatalf("%d processes, want 1", len(p.ProcessList))
	}
	d := p.ProcessList[0]
	if d.ProcessId != 4242 || d.UserTime100ns != 3600000000 || d.MemoryCommitBytes != 5<<30 || d.MemoryWorkingSetSharedBytes != 3<<30 {
		t.Errorf("decoded %+v", d)
	}
}
