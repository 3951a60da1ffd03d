//go:build linux

package vmpool

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeVM boots at once (or fails to), and stops when the test says.
type fakeVM struct {
	bootErr error
	booted  chan struct{} // closed when Prewarm was called
	hold    chan struct{} // Prewarm waits for it when set
	exited  chan struct{}
	mu      sync.Mutex
	closed  int
}

func newFakeVM() *fakeVM {
	return &fakeVM{booted: make(chan struct{}), exited: make(chan struct{})}
}

func (v *fakeVM) Prewarm(ctx context.Context, dir string) error {
	close(v.booted)
	if v.hold != nil {
		<-v.hold
	}
	return v.bootErr
}

func (v *fakeVM) Exited() <-chan struct{} { return v.exited }

func (v *fakeVM) Close(context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed++
	return nil
}

func (v *fakeVM) closes() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.closed
}

// waiting starts a Waiter on a new entry of a new pool and returns once
// its VM is booted and the entry ready (unless the boot is held or fails).
func waiting(t *testing.T, w *Waiter, vm *fakeVM) (*Entry, <-chan error) {
	t.Helper()
	p, err := Open(t.TempDir(), "k")
	if err != nil {
		t.Fatal(err)
	}
	e, err := p.NewEntry()
	if err != nil {
		t.Fatal(err)
	}
	w.Entry = e.Dir
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), vm, "shape") }()
	if vm.hold == nil && vm.bootErr == nil {
		deadline := time.Now().Add(5 * time.Second)
		for !exists(filepath.Join(e.Dir, ReadyFile)) {
			if time.Now().After(deadline) {
				t.Fatal("entry never ready")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return e, done
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

// TestWaiterLife walks a pooled shim through each way its wait ends.
func TestWaiterLife(t *testing.T) {
	tests := []struct {
		name string
		// end ends the wait; gone is the Waiter's ContainerdGone.
		end       func(t *testing.T, e *Entry, vm *fakeVM, gone chan struct{})
		wantErr   string // "" for an adoption
		wantClose int    // VM closes after Release
		entryLeft bool   // the entry after Release
	}{
		{"adopted", func(t *testing.T, e *Entry, vm *fakeVM, gone chan struct{}) {
			if err := Adopt(context.Background(), e, Adoption{Bundle: "/b", Address: "unix:///a", TaskID: "t"}); err != nil {
				t.Fatal(err)
			}
		}, "", 1, true},
		{"VM died", func(t *testing.T, e *Entry, vm *fakeVM, gone chan struct{}) { close(vm.exited) }, "VM stopped", 1, false},
		{"containerd exited", func(t *testing.T, e *Entry, vm *fakeVM, gone chan struct{}) { close(gone) }, "containerd exited", 1, false},
		{"claimed, no pod", func(t *testing.T, e *Entry, vm *fakeVM, gone chan struct{}) {
			if err := os.Rename(e.Dir, filepath.Join(filepath.Dir(e.Dir), claimedPrefix+e.ID)); err != nil {
				t.Fatal(err)
			}
		}, "no pod came", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gone := make(chan struct{})
			var adopted []Adoption
			w := &Waiter{
				ContainerdGone: gone,
				ClaimCheck:     10 * time.Millisecond,
				ClaimGrace:     30 * time.Millisecond,
				Adopted: func(ctx context.Context, a Adoption) error {
					adopted = append(adopted, a)
					return nil
				},
			}
			vm := newFakeVM()
			e, done := waiting(t, w, vm)
			tt.end(t, e, vm, gone)
			err := result(t, done)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Run: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Run: %v, want %q", err, tt.wantErr)
			}
			if tt.wantErr == "" && len(adopted) != 1 {
				t.Fatalf("adopted %d times", len(adopted))
			}
			if tt.wantErr != "" && w.Hand("shape") != nil {
				t.Fatal("an unadopted shim handed its VM")
			}
			if err := w.Release(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := vm.closes(); got != tt.wantClose {
				t.Errorf("VM closed %d times, want %d", got, tt.wantClose)
			}
			if got := exists(e.Dir); got != tt.entryLeft {
				t.Errorf("entry left %v, want %v", got, tt.entryLeft)
			}
		})
	}
}

// TestWaiterHand: an adopted shim hands its VM once, to a container of
// its shape, and Release then leaves the VM to its taker.
func TestWaiterHand(t *testing.T) {
	w := &Waiter{}
	vm := newFakeVM()
	e, done := waiting(t, w, vm)
	if w.Hand("shape") != nil {
		t.Fatal("handed before adoption")
	}
	if err := Adopt(context.Background(), e, Adoption{Bundle: "/b"}); err != nil {
		t.Fatal(err)
	}
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	if w.Hand("other shape") != nil {
		t.Fatal("handed to a container of another shape")
	}
	if w.Hand("shape") != vm {
		t.Fatal("not handed to a container of its shape")
	}
	if w.Hand("shape") != nil {
		t.Fatal("handed twice")
	}
	if err := w.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if vm.closes() != 0 {
		t.Fatal("Release closed a VM it had handed on")
	}
}

// TestWaiterRefusals: a refused adoption leaves the shim waiting, and a
// shim whose VM died refuses to be adopted.
func TestWaiterRefusals(t *testing.T) {
	refuse := true
	w := &Waiter{Adopted: func(context.Context, Adoption) error {
		if refuse {
			refuse = false
			return errors.New("no bundle")
		}
		return nil
	}}
	vm := newFakeVM()
	e, done := waiting(t, w, vm)
	if err := Adopt(context.Background(), e, Adoption{}); err == nil || !strings.Contains(err.Error(), "no bundle") {
		t.Fatalf("refused adoption: %v", err)
	}
	if err := Adopt(context.Background(), e, Adoption{}); err != nil {
		t.Fatalf("second adoption: %v", err)
	}
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}

	w2 := &Waiter{}
	vm2 := newFakeVM()
	e2, done2 := waiting(t, w2, vm2)
	// The VM stops just as a claimer comes: either the wait ends first
	// (no one answers) or the adoption is refused; never adopted.
	close(vm2.exited)
	if err := Adopt(context.Background(), e2, Adoption{}); err == nil {
		t.Fatal("adopted with a stopped VM")
	}
	if err := result(t, done2); err == nil {
		t.Fatal("Run: no error for a stopped VM")
	}
}

// TestWaiterReleaseDuringBoot: a shim shut down while its VM boots closes
// the VM once the boot returns, and never marks the entry ready.
func TestWaiterReleaseDuringBoot(t *testing.T) {
	w := &Waiter{}
	vm := newFakeVM()
	vm.hold = make(chan struct{})
	e, done := waiting(t, w, vm)
	<-vm.booted
	if err := w.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(vm.hold)
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	if vm.closes() != 1 {
		t.Fatalf("VM closed %d times, want 1", vm.closes())
	}
	if exists(filepath.Join(e.Dir, ReadyFile)) {
		t.Fatal("entry marked ready after release")
	}
}

// TestWaiterBootFails: a failed boot is Run's error, and Release removes
// the entry.
func TestWaiterBootFails(t *testing.T) {
	w := &Waiter{}
	vm := newFakeVM()
	vm.bootErr = errors.New("no kernel")
	e, done := waiting(t, w, vm)
	if err := result(t, done); err == nil || !strings.Contains(err.Error(), "no kernel") {
		t.Fatalf("Run: %v", err)
	}
	if err := w.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exists(e.Dir) || vm.closes() != 0 {
		t.Fatalf("after a failed boot: entry left %v, VM closed %d times", exists(e.Dir), vm.closes())
	}
}

// TestPlanRefill: a refill drops the pool's dead entries (and other
// pools' dead ones), cleaning up after their VMs, and spawns shims up to
// the pool's size.
func TestPlanRefill(t *testing.T) {
	root := t.TempDir()
	pool, err := Open(root, "own")
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(root, "other")
	if err != nil {
		t.Fatal(err)
	}
	entry := func(p *Pool, alive bool) *Entry {
		e, err := p.NewEntry()
		if err != nil {
			t.Fatal(err)
		}
		pid := 1 << 22 // beyond pid_max: never a live shim of e
		if alive {
			pid = shimLike(t, e.ID)
		}
		if err := e.WriteFile(PidFile, strconv.Itoa(pid)); err != nil {
			t.Fatal(err)
		}
		return e
	}
	live := entry(pool, true)
	dead := entry(pool, false)
	otherDead := entry(other, false)
	otherLive := entry(other, true)
	var cleaned []string
	spawned := 0
	plan := &Plan{
		Pool: pool, Size: 3, Root: root,
		Cleanup: func(_ context.Context, dir string) { cleaned = append(cleaned, dir) },
		Spawn: func(_ context.Context, p *Pool) error {
			if p != pool {
				t.Error("spawned into another pool")
			}
			spawned++
			_, err := p.NewEntry() // being spawned: no pid yet
			return err
		},
	}
	plan.Refill(context.Background())
	if spawned != 2 {
		t.Errorf("spawned %d shims for a pool of 3 with 1 live, want 2", spawned)
	}
	for _, e := range []*Entry{dead, otherDead} {
		if exists(e.Dir) {
			t.Errorf("dead entry %s left", e.Dir)
		}
	}
	for _, e := range []*Entry{live, otherLive} {
		if !exists(e.Dir) {
			t.Errorf("live entry %s dropped", e.Dir)
		}
	}
	if len(cleaned) != 2 {
		t.Errorf("cleaned up after %v, want the two dead entries", cleaned)
	}
	// Full now: a second refill spawns none.
	spawned = 0
	plan.Refill(context.Background())
	if spawned != 0 {
		t.Errorf("a full pool spawned %d", spawned)
	}
}

// TestPlanTake: a pod takes a ready entry's shim, whose socket then
// answers at the pod's address; with none ready it takes nothing.
func TestPlanTake(t *testing.T) {
	root := t.TempDir()
	pool, err := Open(root, "p")
	if err != nil {
		t.Fatal(err)
	}
	plan := &Plan{Pool: pool, Size: 1, Match: true, Root: root}
	podAddr := "unix://" + filepath.Join(root, "pod.sock")
	listen := func(path string) *net.UnixListener {
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	startLn := listen(socketPath(podAddr))
	if plan.Take(context.Background(), Adoption{Address: podAddr}, startLn) {
		t.Fatal("took from an empty pool")
	}

	e, err := pool.NewEntry()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WriteFile(PidFile, strconv.Itoa(shimLike(t, e.ID))); err != nil {
		t.Fatal(err)
	}
	shimAddr := "unix://" + filepath.Join(root, "shim.sock")
	shimLn := listen(socketPath(shimAddr))
	defer shimLn.Close()
	if err := e.WriteFile(AddressFile, shimAddr); err != nil {
		t.Fatal(err)
	}
	w := &Waiter{Entry: e.Dir}
	vm := newFakeVM()
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), vm, "shape") }()
	for !exists(filepath.Join(e.Dir, ReadyFile)) {
		time.Sleep(5 * time.Millisecond)
	}
	if !plan.Take(context.Background(), Adoption{Bundle: "/b", Address: podAddr, TaskID: "t"}, startLn) {
		t.Fatal("did not take the ready entry")
	}
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	// The pooled shim's listener now answers at the pod's address.
	c, err := net.Dial("unix", socketPath(podAddr))
	if err != nil {
		t.Fatalf("pod address: %v", err)
	}
	c.Close()
	if _, err := shimLn.Accept(); err != nil {
		t.Fatal(err)
	}
	if exists(e.Dir) || exists(filepath.Join(root, "p", claimedPrefix+e.ID)) {
		t.Error("the taken entry was left")
	}
}
