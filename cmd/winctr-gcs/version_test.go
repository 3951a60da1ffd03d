//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/winctr/winctr/internal/bootmanifest"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

func TestVersion(t *testing.T) {
	if !versionRequested([]string{"/init", bootmanifest.AgentVersionFlag}) || versionRequested([]string{"/init"}) {
		t.Error("versionRequested")
	}
	var b bytes.Buffer
	if err := printVersion(&b); err != nil {
		t.Fatal(err)
	}
	var m bootmanifest.Manifest
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || m.AgentProtocol != agent.ProtocolVersion {
		t.Errorf("printed %q: %v", b.String(), err)
	}
}
