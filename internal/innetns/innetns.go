//go:build linux

// Package innetns runs code in another network namespace. A namespace is
// a property of an OS thread, and Go moves goroutines between threads, so
// the code runs on a thread of its own that exits with it: no other
// goroutine may ever find itself in the pod's namespace. What the code
// creates there (a tap, a listening socket) stays in that namespace.
package innetns

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// OnThrowawayThread runs fn on an OS thread that exits when fn returns,
// so that fn may change the thread's namespaces.
func OnThrowawayThread(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Never unlocked: the thread exits with this goroutine instead of
		// serving other goroutines.
		runtime.LockOSThread()
		fn()
	}()
	<-done
}

// Do runs fn in the network namespace ns, on a throwaway thread.
func Do(ns netns.NsHandle, fn func() error) (err error) {
	OnThrowawayThread(func() {
		if err = netns.Set(ns); err != nil {
			err = fmt.Errorf("enter network namespace: %w", err)
			return
		}
		err = fn()
	})
	return err
}
