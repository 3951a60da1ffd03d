//go:build linux

package gcs

import (
	"encoding/json"
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	agent "github.com/winctr/winctr/protos/agent/v1"
)

// TestNetAdminModulesBeforeNetworkAdmins: the kernel modules a container
// that manages its network expects are loaded before each container whose
// processes may hold CAP_NET_ADMIN, and for no other; a failure to load
// them is logged, not a failed create.
func TestNetAdminModulesBeforeNetworkAdmins(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bounding  []string
		loadErr   error
		wantCalls int
	}{
		{"no capabilities", nil, nil, 0},
		{"default set", []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}, nil, 0},
		{"CAP_NET_ADMIN", []string{"CAP_CHOWN", "CAP_NET_ADMIN"}, nil, 1},
		{"CAP_NET_ADMIN, modules missing", []string{"CAP_NET_ADMIN"}, errors.New("no such file"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			g := newGuest(t, func(c *Config) {
				c.NetAdminModules = func() error { calls++; return tc.loadErr }
			})
			var spec specs.Spec
			if err := json.Unmarshal(g.spec("true"), &spec); err != nil {
				t.Fatal(err)
			}
			if tc.bounding != nil {
				spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: tc.bounding}
			}
			b, err := json.Marshal(&spec)
			if err != nil {
				t.Fatal(err)
			}
			stdio, _ := g.streams("c", false)
			if _, err := g.api.CreateContainer(g.ctx, &agent.CreateContainerRequest{ContainerId: "c", SpecJson: b, Stdio: stdio}); err != nil {
				t.Fatalf("create: %v", err)
			}
			if calls != tc.wantCalls {
				t.Fatalf("modules loaded %d times, want %d", calls, tc.wantCalls)
			}
		})
	}
}
