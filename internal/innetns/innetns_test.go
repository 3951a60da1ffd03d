//go:build linux

package innetns

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The thread that ran in the other namespace lives on, back in the
// shim's namespace: ending it would send the parent-death signal to every
// child it forked (QEMU, virtiofsd). Both for a namespace given (Do) and
// a new one (New), and when fn fails.
func TestThreadComesBackAlive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	failure := errors.New("fn failed")
	for _, tc := range []struct {
		name string
		run  func(fn func() error) error
		fail bool
	}{
		{"Do", func(fn func() error) error { return Do(other, fn) }, false},
		{"Do failing", func(fn func() error) error { return Do(other, fn) }, true},
		{"New", func(fn func() error) error {
			ns, err := New(fn)
			if err == nil {
				ns.Close()
			}
			return err
		}, false},
		{"New failing", func(fn func() error) error { _, err := New(fn); return err }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tid int
			var inside string
			err := tc.run(func() error {
				tid = unix.Gettid()
				inside, _ = os.Readlink(fmt.Sprintf("/proc/self/task/%d/ns/net", tid))
				if tc.fail {
					return failure
				}
				return nil
			})
			if tc.fail != errors.Is(err, failure) || (!tc.fail && err != nil) {
				t.Fatalf("returned %v", err)
			}
			if inside == own {
				t.Fatalf("fn ran in the shim's own namespace %s", own)
			}
			time.Sleep(50 * time.Millisecond) // a thread that ends does so now
			back, err := os.Readlink(fmt.Sprintf("/proc/self/task/%d/ns/net", tid))
			if err != nil {
				t.Fatalf("thread %d ended: %v", tid, err)
			}
			if back != own {
				t.Fatalf("thread %d is in %s, not back in %s", tid, back, own)
			}
		})
	}
}

// A namespace handle that is no namespace fails Do before fn runs, and
// the thread stays in the shim's namespace.
func TestDoBadNamespace(t *testing.T) {
	ran := false
	err := Do(netns.None(), func() error { ran = true; return nil })
	if err == nil || ran {
		t.Fatalf("Do with no namespace: %v, fn ran %v", err, ran)
	}
}
