package lcow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/winctr/winctr/internal/bundlestate"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// recordVM is a podVM that only says what the bundle records.
type recordVM struct {
	podVM
	s state
}

func (v *recordVM) record(rootfs string) state {
	s := v.s
	s.Rootfs = rootfs
	return s
}

// TestRecordOncePerChange: the Host writes a bundle's state when it
// changes, not again when a step reports the same state, and forgets it
// with the container.
func TestRecordOncePerChange(t *testing.T) {
	vm := &recordVM{s: state{VMDir: "/vm-1"}}
	h := &Host{vm: vm, recorded: map[string]state{}}
	bundle := t.TempDir()
	file := filepath.Join(bundle, stateFile)
	read := func() state {
		t.Helper()
		var s state
		if found, err := bundlestate.Read(bundle, stateFile, &s); err != nil || !found {
			t.Fatalf("state: found %v, %v", found, err)
		}
		return s
	}
	steps := []struct {
		name   string
		change func()
		rootfs string
		write  bool
	}{
		{"the VM's directory", func() {}, "", true},
		{"the same again", func() {}, "", false},
		{"the pod's cgroup", func() { vm.s.PodCgroup = "/pods/p" }, "", true},
		{"the rootfs", func() {}, "/vm-1/share/c/rootfs", true},
		{"the rootfs again", func() {}, "/vm-1/share/c/rootfs", false},
	}
	for _, st := range steps {
		st.change()
		_ = os.Remove(file) // a write shows as the file coming back
		if err := h.record(bundle, st.rootfs); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		_, err := os.Stat(file)
		if wrote := err == nil; wrote != st.write {
			t.Fatalf("%s: wrote %v, want %v", st.name, wrote, st.write)
		}
		if st.write {
			if got, want := read(), vm.record(st.rootfs); got != want {
				t.Fatalf("%s: recorded %+v, want %+v", st.name, got, want)
			}
		}
	}
	if err := h.record("", "/x"); err != nil {
		t.Fatalf("a pod without a bundle: %v", err)
	}
	if err := h.forget(bundle); err != nil {
		t.Fatal(err)
	}
	if err := h.record(bundle, "/vm-1/share/c/rootfs"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("a forgotten bundle is written again: %v", err)
	}
}

// bootVM is a podVM whose boot reports two changes, then fails or not.
type bootVM struct {
	recordVM
	bootErr error
}

func (v *bootVM) boot(ctx context.Context, pod podPlace, dial dialAgent, changed func() error) error {
	if err := changed(); err != nil {
		return err
	}
	v.s.PodCgroup = "/pods/" + pod.name
	if err := changed(); err != nil {
		return err
	}
	return v.bootErr
}

// TestStartPodRecordsInTheBundle: the pod's bundle gets the VM's state as
// its boot reports changes, and a failed boot leaves no agent client.
func TestStartPodRecordsInTheBundle(t *testing.T) {
	for _, bootErr := range []error{nil, errors.New("no kernel")} {
		vm := &bootVM{recordVM: recordVM{s: state{VMDir: "/vm-2"}}, bootErr: bootErr}
		h := &Host{vm: vm, recorded: map[string]state{}, agent: agent.NewAgentClient(nil)}
		bundle := t.TempDir()
		err := h.startPod(context.Background(), podPlace{name: "p", bundle: bundle})
		if !errors.Is(err, bootErr) {
			t.Fatalf("startPod: %v, want %v", err, bootErr)
		}
		var s state
		if found, err := bundlestate.Read(bundle, stateFile, &s); err != nil || !found || s != (state{VMDir: "/vm-2", PodCgroup: "/pods/p"}) {
			t.Fatalf("bundle state %+v (found %v, %v): want the VM and the pod's cgroup", s, found, err)
		}
		if failed := bootErr != nil; failed != (h.agent == nil) {
			t.Fatalf("boot error %v: agent client kept %v", bootErr, h.agent != nil)
		}
	}
}
