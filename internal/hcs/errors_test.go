package hcs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/containerd/errdefs"
)

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hr      uint32
		result  string
		want    error
		message string
	}{
		{"not found", hrSystemNotFound, `{"Error":-1070137074,"ErrorMessage":"A virtual machine or container with the specified identifier does not exist."}`,
			errdefs.ErrNotFound, "A virtual machine or container with the specified identifier does not exist."},
		{"exists", hrSystemAlreadyExists, "", errdefs.ErrAlreadyExists, ""},
		{"bad document", hrInvalidJSON, `{"ErrorMessage":"The JSON document is invalid.","ErrorEvents":[{"Message":"Unknown field 'Foo'"},{"Message":"The JSON document is invalid."}]}`,
			errdefs.ErrInvalidArgument, "The JSON document is invalid.; Unknown field 'Foo'"},
		{"denied", hrAccessDenied, "not json", errdefs.ErrPermissionDenied, "not json"},
		{"stopped", hrSystemAlreadyStopped, "", errdefs.ErrFailedPrecondition, ""},
		{"timeout", hrTimeout, "", context.DeadlineExceeded, ""},
		{"other", 0x80004005, "", errdefs.ErrUnknown, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("start pod: %w", newError("StartComputeSystem", "winctr-1", tc.hr, tc.result))
			if !errors.Is(err, tc.want) {
				t.Errorf("%v is not %v", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.HRESULT != tc.hr || e.Message != tc.message {
				t.Errorf("got %+v, want HRESULT 0x%08x message %q", e, tc.hr, tc.message)
			}
			if got, want := IsAlreadyStopped(err), tc.hr == hrSystemAlreadyStopped || tc.hr == hrSystemNotFound; got != want {
				t.Errorf("IsAlreadyStopped = %v", got)
			}
		})
	}
	if got := newError("CreateProcess", "c1", 0x80070002, `{"ErrorMessage":"The system cannot find the file specified."}`).Error(); got != "hcs CreateProcess c1: HRESULT 0x80070002: The system cannot find the file specified." {
		t.Errorf("message %q", got)
	}
}
