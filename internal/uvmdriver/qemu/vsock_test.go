//go:build linux

package qemu

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestClaimCID(t *testing.T) {
	tests := []struct {
		name    string
		start   uint32
		inUse   int   // CIDs taken before a free one
		other   error // error after them, if any
		want    uint32
		wantErr bool
	}{
		{"first free", 0, 0, nil, 3, false},
		{"skips CIDs in use", 10, 3, nil, 16, false},
		{"wraps before the reserved CIDs", cidSpan - 1, 1, nil, 3, false},
		{"stops at another error", 0, 1, unix.ENODEV, 0, true},
		{"gives up when all are taken", 0, 5000, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			got, err := claimCID(func(cid uint32) error {
				if cid < firstCID {
					t.Fatalf("tried reserved CID %d", cid)
				}
				calls++
				if calls <= tt.inUse {
					return unix.EADDRINUSE
				}
				if tt.other != nil {
					return tt.other
				}
				return nil
			}, tt.start)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("claimCID = %d, %v; want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
			if tt.other != nil && !errors.Is(err, tt.other) {
				t.Fatalf("error %v does not wrap %v", err, tt.other)
			}
		})
	}
}
