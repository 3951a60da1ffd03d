//go:build e2e

package fault

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// TestShimSocketIsPrivate checks that the socket containerd reaches the
// shim on is the root's alone: mode 0600, owned by uid 0.
func TestShimSocketIsPrivate(t *testing.T) {
	id := "private-socket"
	cd.CleanupTask(t, id)
	cd.StartSleeper(t, id, "--runtime", harness.Runtime)

	b, err := os.ReadFile(filepath.Join(cd.State, "io.containerd.runtime.v2.task", cd.Namespace, id, "bootstrap.json"))
	if err != nil {
		t.Fatal(err)
	}
	var params map[string]any
	if err := json.Unmarshal(b, &params); err != nil {
		t.Fatal(err)
	}
	address, _ := params["address"].(string)
	path, ok := strings.CutPrefix(address, "unix://")
	if !ok {
		t.Fatalf("shim address %q is not a unix socket", address)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 || st.Uid != 0 {
		t.Errorf("shim socket %s: mode %v, owner %d; want a socket, 0600, root", path, fi.Mode(), st.Uid)
	}
}

// TestVMContainerSeesOnlyItsOwn has a container in a utility VM try to
// reach what is not its own: the share the host gives the VM (mounting it
// again, or finding the agent's tree), the guest's root through /proc, and
// a listening socket of the agent's. Each try must fail.
func TestVMContainerSeesOnlyItsOwn(t *testing.T) {
	harness.RequireBootFiles(t)
	ctx := context.Background()
	script := strings.Join([]string{
		`mkdir -p /tmp/m`,
		`mount -t virtiofs share /tmp/m 2>/dev/null && echo LEAK:remount`,
		`ls /run/winctr 2>/dev/null && echo LEAK:agent-tree`,
		`ls /proc/1/root/run/winctr 2>/dev/null && echo LEAK:proc-root`,
		`cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == "0A" {print "LEAK:listener " $2}'`,
		`echo checked`,
	}, "; ")
	r := cd.Ctr(ctx, append(append([]string{"run", "--rm"}, vmArgs...), image.Name, "vm-confined", "sh", "-c", script)...)
	if r.Err != nil || !strings.Contains(r.Stdout, "checked") {
		t.Fatalf("the checks did not run: %v %s", r.Err, r.Output())
	}
	if strings.Contains(r.Stdout, "LEAK") {
		t.Fatalf("the container reached beyond its own:\n%s", r.Stdout)
	}
}
