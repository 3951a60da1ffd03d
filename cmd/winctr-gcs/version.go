//go:build linux

package main

import (
	"encoding/json"
	"io"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/version"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// versionRequested tells whether the agent was run on the host by the
// boot files builder to say what it is, rather than as a guest's init.
func versionRequested(args []string) bool {
	return len(args) == 2 && args[1] == bootmanifest.AgentVersionFlag
}

// printVersion writes the agent's part of the boot files' manifest.
func printVersion(w io.Writer) error {
	return json.NewEncoder(w).Encode(bootmanifest.Manifest{AgentProtocol: agent.ProtocolVersion, AgentVersion: version.Version})
}
