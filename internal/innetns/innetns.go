//go:build linux

// Package innetns runs code in another network namespace. A namespace is
// a property of an OS thread, and Go moves goroutines between threads, so
// the code runs on a thread locked to it, which goes back to its own
// namespace afterwards: no other goroutine may ever find itself in the
// pod's namespace. What the code creates there (a tap, a listening socket)
// stays in that namespace.
//
// The thread is kept rather than ended: Linux sends a child's parent-death
// signal when the thread that forked it ends, not the process, and the
// shim starts QEMU and virtiofsd with one. Ending a thread of the shim's
// pool once they run killed them (seen: a VM pod's virtiofsd gone the
// moment its port-forward listener was made).
package innetns

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn in the network namespace ns.
func Do(ns netns.NsHandle, fn func() error) error {
	return onLockedThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter network namespace: %w", err)
		}
		return fn()
	})
}

// New makes a network namespace and runs fn in it; the namespace lives
// while the handle it returns is open (or while something is in it).
func New(fn func() error) (ns netns.NsHandle, err error) {
	err = onLockedThread(func() error {
		if ns, err = netns.New(); err != nil {
			return fmt.Errorf("new network namespace: %w", err)
		}
		if err := fn(); err != nil {
			ns.Close()
			return err
		}
		return nil
	})
	return ns, err
}

// onLockedThread runs fn, which may move its thread into another network
// namespace, on a locked OS thread, and moves the thread back after it. A
// thread that cannot go back stays locked and ends with its goroutine: a
// lost child is better than a shim thread in a pod's namespace.
func onLockedThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("the thread's network namespace: %w", err)
			return
		}
		defer own.Close()
		ferr := fn()
		if err := netns.Set(own); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("back to the shim's network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
