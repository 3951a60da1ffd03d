//go:build linux

package main

import (
	"errors"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

func TestGuestTarget(t *testing.T) {
	tests := []struct {
		target, want string
		ok           bool
	}{
		{"/run/winctr/share", "/run/winctr/share", true},
		{"/run/winctr/vol/a/", "/run/winctr/vol/a", true},
		{"/run/winctr", "", false},
		{"/run/winctr/../../etc", "", false},
		{"/etc", "", false},
		{"run/winctr/share", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := guestTarget(tt.target)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("guestTarget(%q) = %q, %v", tt.target, got, err)
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("guestTarget(%q): %v is not invalid argument", tt.target, err)
		}
	}
}

func TestSplitOptions(t *testing.T) {
	tests := []struct {
		opts  []string
		flags uintptr
		data  string
	}{
		{nil, 0, ""},
		{[]string{"ro", "nosuid"}, unix.MS_RDONLY | unix.MS_NOSUID, ""},
		{[]string{"size=64m", "nodev", "mode=0755"}, unix.MS_NODEV, "size=64m,mode=0755"},
		{[]string{"rbind"}, unix.MS_BIND | unix.MS_REC, ""},
	}
	for _, tt := range tests {
		flags, data := splitOptions(tt.opts)
		if flags != tt.flags || data != tt.data {
			t.Errorf("splitOptions(%v) = %#x %q, want %#x %q", tt.opts, flags, data, tt.flags, tt.data)
		}
	}
}
