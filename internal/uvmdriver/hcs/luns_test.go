package hcs

import (
	"testing"

	"github.com/containerd/errdefs"
)

func TestLUNs(t *testing.T) {
	l := NewLUNs(0)
	for want := int32(1); want < MaxLUNs; want++ {
		if got, err := l.Take(); got != want || err != nil {
			t.Fatalf("take: %d, %v; want %d", got, err, want)
		}
	}
	if _, err := l.Take(); !errdefs.IsResourceExhausted(err) {
		t.Fatalf("a full controller: %v", err)
	}
	l.Free(7)
	if got, err := l.Take(); got != 7 || err != nil {
		t.Fatalf("after freeing 7: %d, %v", got, err)
	}
}
