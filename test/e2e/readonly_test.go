//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// TestReadOnlyBindMounts: a read-only bind mount whose source has a
// tmpfs mounted under it, in both isolations. ro on an rbind is the top
// mount's alone (the tmpfs stays writable, as with runc); rro makes the
// tmpfs read-only too; a plain bind leaves the tmpfs behind. Once the
// container is gone nothing of it holds the host's mounts: the tmpfs
// unmounts and its directory is removed.
func TestReadOnlyBindMounts(t *testing.T) {
	const probe = "touch /mnt/top 2>/dev/null && echo top; touch /mnt/sub/file 2>/dev/null && echo sub; " +
		"test -e /mnt/sub/marker && echo marker; true"
	tests := []struct {
		options string
		want    string // what the probe printed: writable places, the submount's marker
	}{
		{"rbind:ro", "sub marker"},
		{"rbind:rro", "marker"},
		{"bind:ro", ""},
		{"rbind:rw", "top sub marker"},
	}
	for _, isolation := range []string{"process", "hypervisor"} {
		for i, tt := range tests {
			t.Run(isolation+"/"+tt.options, func(t *testing.T) {
				args := []string{"--runtime", harness.Runtime}
				if isolation == "hypervisor" {
					harness.RequireBootFiles(t)
					args = vmArgs
				}
				d := harness.NewSubmountedDir(t)
				src := d.Dir
				if err := os.WriteFile(filepath.Join(d.Sub, "marker"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				id := "ro-" + isolation[:1] + string(rune('0'+i))
				cd.CleanupTask(t, id)
				r := cd.Ctr(context.Background(), append(append([]string{"run", "--rm"}, args...),
					"--mount", "type=bind,src="+src+",dst=/mnt,options="+tt.options, image.Name, id, "sh", "-c", probe)...)
				if r.Err != nil {
					t.Fatalf("ctr run: %v %s", r.Err, r.Output())
				}
				if got := strings.Join(strings.Fields(r.Stdout), " "); got != tt.want {
					t.Fatalf("writable and seen: %q, want %q", got, tt.want)
				}
				d.Release()
				cd.AssertNoLeaks(t)
			})
		}
	}
}

// TestVMReadOnlyBindHeldByTheHost: a privileged container in a VM holds
// the guest's privileges, which can remount its read-only bind writable
// in the guest; the host's mount still refuses the write.
func TestVMReadOnlyBindHeldByTheHost(t *testing.T) {
	harness.RequireBootFiles(t)
	src := t.TempDir()
	id := "ro-privileged"
	cd.CleanupTask(t, id)
	r := cd.Ctr(context.Background(), append(append([]string{"run", "--rm", "--privileged"}, vmArgs...),
		"--mount", "type=bind,src="+src+",dst=/mnt,options=rbind:ro", image.Name, id, "sh", "-c",
		"mount -o remount,rw /mnt && echo remounted; touch /mnt/top 2>/dev/null && echo written; true")...)
	if r.Err != nil {
		t.Fatalf("ctr run: %v %s", r.Err, r.Output())
	}
	if _, err := os.Stat(filepath.Join(src, "top")); err == nil || strings.Contains(r.Stdout, "written") {
		t.Fatalf("a read-only bind was written from the guest (%q)", r.Stdout)
	}
	cd.AssertNoLeaks(t)
}
