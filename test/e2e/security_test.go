//go:build e2e && linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// TestAnnotationsCannotWeakenTheRuntime: the runtime's options are the
// operator's and a container's annotations are not. An annotation that
// would lower the options' isolation, choose a key the options do not
// allow, or read boot files from outside the permitted directories is
// refused before anything runs; what the options allow works.
func TestAnnotationsCannotWeakenTheRuntime(t *testing.T) {
	ctx := context.Background()
	// Every container below would leave a file here if it ran.
	witness := t.TempDir()
	mount := "type=bind,src=" + witness + ",dst=/w,options=rbind:rw"
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"lowering a VM handler to process", append(harness.VMOptions(""), "--annotation", "io.winctr.isolation=process"),
			[]string{"io.winctr.isolation", "asks for process isolation, below the hypervisor isolation of the runtime's options"}},
		{"a VM through a key the options do not allow", []string{"--runtime", harness.Runtime, "--annotation", "io.winctr.isolation=hypervisor"},
			[]string{"io.winctr.isolation", "is not allowed for pods by this runtime", "allowed_annotations"}},
		{"boot files the options do not permit", append(harness.VMOptions(`allowed_annotations = ["io.winctr.bootfiles-root-path"]`+"\n"),
			"--annotation", "io.winctr.bootfiles-root-path=/tmp"),
			[]string{"io.winctr.bootfiles-root-path", "/tmp", "is not in a directory the runtime's options permit", "valid_boot_files_paths"}},
		{"hcsshim's boot files key, not allowed", append(harness.VMOptions(""),
			"--annotation", "io.microsoft.virtualmachine.bootfilesrootpath=/tmp"),
			[]string{"io.microsoft.virtualmachine.bootfilesrootpath", "is not allowed", "allowed_annotations"}},
		{"a misspelt key", append(harness.VMOptions(`allowed_annotations = ["io.winctr.*"]`+"\n"),
			"--annotation", "io.winctr.vm.memroy-mb=512"),
			[]string{"io.winctr.vm.memroy-mb", "is not one winctr knows"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("weaken-%d", i)
			cd.CleanupTask(t, id)
			args := append(append([]string{"run", "--rm", "--mount", mount}, tt.args...),
				image.Name, id, "sh", "-c", "uname -r > /w/"+id)
			r := cd.Ctr(ctx, args...)
			if r.Err == nil {
				t.Fatalf("ctr run succeeded: %q", r.Stdout)
			}
			t.Logf("refused: %s", r.Stderr)
			for _, w := range tt.wants {
				if !strings.Contains(r.Stderr, w) {
					t.Fatalf("error %q does not mention %q", r.Stderr, w)
				}
			}
			if _, err := os.Stat(filepath.Join(witness, id)); err == nil {
				t.Fatal("the refused container ran")
			}
			cd.Ctr(ctx, "container", "rm", id)
			cd.AssertNoLeaks(t)
		})
	}

	t.Run("raising process to hypervisor where allowed", func(t *testing.T) {
		harness.RequireBootFiles(t)
		release, err := harness.GuestKernelRelease()
		if err != nil {
			t.Skip(err)
		}
		opts := harness.OptionsFile("isolation = \"process\"\nallowed_annotations = [\"io.winctr.isolation\"]\n" + harness.BootFilesOption())
		id := "raise-to-vm"
		cd.CleanupTask(t, id)
		r := cd.Ctr(ctx, "run", "--rm", "--runtime", harness.Runtime, "--runtime-config-path", opts,
			"--annotation", "io.winctr.isolation=hypervisor", image.Name, id, "uname", "-r")
		if r.Err != nil || strings.TrimSpace(r.Stdout) != release {
			t.Fatalf("got %q (%v %s), want the guest kernel %q", r.Stdout, r.Err, r.Stderr, release)
		}
		cd.AssertNoLeaks(t)
	})
}

// TestVMRefusesSharedPropagation: a bind mount asking for shared
// propagation with the host (a Bidirectional volume) cannot cross into a
// utility VM; it is refused at create, before a VM boots, with the reason.
func TestVMRefusesSharedPropagation(t *testing.T) {
	ctx := context.Background()
	id := "vm-rshared"
	cd.CleanupTask(t, id)
	r := cd.Ctr(ctx, append(append([]string{"run", "--rm"}, harness.VMOptions("")...),
		"--mount", "type=bind,src="+t.TempDir()+",dst=/data,options=rbind:rshared", image.Name, id, "true")...)
	if r.Err == nil {
		t.Fatal("ctr run with an rshared mount in a VM succeeded")
	}
	t.Logf("refused: %s", r.Stderr)
	if !strings.Contains(r.Stderr, "shared propagation (Bidirectional) between the host and a utility VM is not possible") {
		t.Fatalf("error %q does not give the reason", r.Stderr)
	}
	cd.Ctr(ctx, "container", "rm", id)
	cd.AssertNoLeaks(t)
}
