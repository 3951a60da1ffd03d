package bootmanifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestCheckAgent(t *testing.T) {
	dir := t.TempDir()
	if err := CheckAgent(filepath.Join(dir, "none"), 1); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "none") || !strings.Contains(err.Error(), "make bootfiles") {
		t.Errorf("no directory: %v", err)
	}
	err := CheckAgent(dir, 3)
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "make bootfiles") || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("no manifest: %v", err)
	}
	if err := Write(dir, Manifest{AgentProtocol: 2, AgentVersion: "v0.1.0"}); err != nil {
		t.Fatal(err)
	}
	err = CheckAgent(dir, 3)
	if !errdefs.IsFailedPrecondition(err) {
		t.Errorf("mismatch: %v", err)
	}
	for _, want := range []string{"protocol version 2", "v0.1.0", "speaks version 3", "make bootfiles"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("mismatch error %v lacks %q", err, want)
		}
	}
	if err := CheckAgent(dir, 2); err != nil {
		t.Errorf("match: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, File), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckAgent(dir, 2); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("corrupt manifest: %v", err)
	}
}

func TestFromAgent(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "agent")
	script := "#!/bin/sh\n[ \"$1\" = " + AgentVersionFlag + " ] && echo '{\"agent_protocol\":7,\"agent_version\":\"v1\"}'\n"
	if err := os.WriteFile(agent, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := FromAgent(agent)
	if err != nil || m.AgentProtocol != 7 || m.AgentVersion != "v1" {
		t.Errorf("AgentManifest = %+v, %v", m, err)
	}
	if err := os.WriteFile(agent, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := FromAgent(agent); err == nil {
		t.Error("an agent without a version was accepted")
	}
}
