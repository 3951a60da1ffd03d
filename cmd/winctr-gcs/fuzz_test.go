//go:build linux

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/gcs"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// FuzzMountRequest feeds arbitrary mount requests' fields through every
// check the agent makes before it mounts: never a panic, every refusal an
// invalid argument, and nothing accepted outside the agent's tree.
func FuzzMountRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, source, target, options string) {
		if got, err := guestTarget(target); err == nil {
			if !strings.HasPrefix(got, mountRoot+"/") || strings.Contains(got, "/../") {
				t.Fatalf("target %q accepted as %q", target, got)
			}
		} else if !errdefs.IsInvalidArgument(err) {
			t.Fatalf("target %q: %v", target, err)
		}
		opts := strings.Split(options, ",")
		_, _ = splitOptions(opts)
		if strings.HasPrefix(source, scsiSource) {
			if c, _, err := parseSCSISource(source); err == nil && strings.ContainsAny(c, "/.") {
				t.Fatalf("controller %q of %q becomes a path", c, source)
			} else if err != nil && !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%q: %v", source, err)
			}
		}
		if strings.HasPrefix(source, vsockSource) {
			if _, share, err := parse9pSource(source); err == nil && strings.ContainsAny(share, ",=") {
				t.Fatalf("share %q of %q would add mount options", share, source)
			} else if err != nil && !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%q: %v", source, err)
			}
		}
	})
}

// FuzzAgentRequests decodes arbitrary bytes as each request the agent
// takes from the host, and what the request carries (a spec, a process,
// resources), through the agent's checks: never a panic, every refusal an
// invalid argument.
func FuzzAgentRequests(f *testing.F) {
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		msgs := []proto.Message{
			&agent.CreateContainerRequest{}, &agent.ExecProcessRequest{}, &agent.ProcessRequest{},
			&agent.SignalProcessRequest{}, &agent.ResizeTTYRequest{}, &agent.ContainerRequest{},
			&agent.UpdateContainerRequest{}, &agent.StartSandboxRequest{}, &agent.MountRequest{},
			&agent.UnmountRequest{}, &agent.ConfigureNetworkRequest{}, &agent.PingRequest{},
		}
		m := msgs[int(kind)%len(msgs)]
		if proto.Unmarshal(b, m) != nil {
			return
		}
		invalidOrNil := func(err error) {
			if err != nil && !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%T: refusal %v is not an invalid argument", m, err)
			}
		}
		switch r := m.(type) {
		case *agent.CreateContainerRequest:
			var spec specs.Spec
			if json.Unmarshal(r.SpecJson, &spec) != nil {
				return
			}
			if err := containerhost.CheckSpec(&spec); err != nil {
				invalidOrNil(err)
				return
			}
			invalidOrNil(gcs.CheckGuestSpec(r.ContainerId, &spec, root))
		case *agent.ExecProcessRequest:
			var p specs.Process
			_ = json.Unmarshal(r.ProcessJson, &p)
			if err := identifiers.Validate(r.ExecId); err != nil && !errdefs.IsInvalidArgument(err) {
				t.Fatalf("exec id %q: %v", r.ExecId, err)
			}
		case *agent.UpdateContainerRequest:
			if r.Resources != nil {
				_, _ = typeurl.UnmarshalAny(r.Resources)
			}
		case *agent.MountRequest:
			_, err := guestTarget(r.Target)
			invalidOrNil(err)
			if strings.HasPrefix(r.Source, scsiSource) {
				_, _, err := parseSCSISource(r.Source)
				invalidOrNil(err)
			}
		case *agent.UnmountRequest:
			_, err := guestTarget(r.Target)
			invalidOrNil(err)
		}
	})
}
