package hcs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/winctr/winctr/internal/hcs/schema"
)

// HRESULTs of HCS and Win32 that winctr tells apart.
const (
	hrAccessDenied          uint32 = 0x80070005
	hrNotFound              uint32 = 0x80070490 // ERROR_NOT_FOUND
	hrNotSupported          uint32 = 0x80070032
	hrInvalidState          uint32 = 0xC0370105 // HCS_E_INVALID_STATE
	hrUnexpectedExit        uint32 = 0xC0370106 // HCS_E_UNEXPECTED_EXIT
	hrInvalidJSON           uint32 = 0xC037010D // HCS_E_INVALID_JSON
	hrSystemNotFound        uint32 = 0xC037010E // HCS_E_SYSTEM_NOT_FOUND
	hrSystemAlreadyExists   uint32 = 0xC037010F // HCS_E_SYSTEM_ALREADY_EXISTS
	hrSystemAlreadyStopped  uint32 = 0xC0370110 // HCS_E_SYSTEM_ALREADY_STOPPED
	hrProcessAlreadyStopped uint32 = 0x8037011F // HCS_E_PROCESS_ALREADY_STOPPED
	hrTimeout               uint32 = 0x800705B4 // ERROR_TIMEOUT
)

// Error is a failed HCS call: which call, on which compute system, the
// HRESULT, and the text HCS gave in its result document.
type Error struct {
	Op      string
	ID      string
	HRESULT uint32
	// Message is HCS's ErrorMessage, with the messages of its error events.
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("hcs ")
	b.WriteString(e.Op)
	if e.ID != "" {
		b.WriteString(" ")
		b.WriteString(e.ID)
	}
	fmt.Fprintf(&b, ": HRESULT 0x%08x", e.HRESULT)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap gives the errdefs class of the HRESULT, so callers and
// containerd's error mapping can tell not-found from refused.
func (e *Error) Unwrap() error { return classify(e.HRESULT) }

func classify(hr uint32) error {
	switch hr {
	case hrSystemNotFound, hrNotFound:
		return errdefs.ErrNotFound
	case hrSystemAlreadyExists:
		return errdefs.ErrAlreadyExists
	case hrAccessDenied:
		return errdefs.ErrPermissionDenied
	case hrInvalidJSON:
		return errdefs.ErrInvalidArgument
	case hrNotSupported:
		return errdefs.ErrNotImplemented
	case hrInvalidState, hrSystemAlreadyStopped, hrProcessAlreadyStopped, hrUnexpectedExit:
		return errdefs.ErrFailedPrecondition
	case hrTimeout:
		return context.DeadlineExceeded
	}
	return errdefs.ErrUnknown
}

// IsAlreadyStopped tells whether err says the system or process had
// already stopped: for Terminate and Shutdown that is success. A process
// whose compute system has stopped is an element not found.
func IsAlreadyStopped(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.HRESULT {
	case hrSystemAlreadyStopped, hrProcessAlreadyStopped, hrSystemNotFound, hrNotFound:
		return true
	}
	return false
}

// newError builds the Error of a call that returned hr, with the result
// document HCS gave (possibly empty or not JSON).
func newError(op, id string, hr uint32, result string) *Error {
	e := &Error{Op: op, ID: id, HRESULT: hr}
	var doc schema.ResultError
	if result != "" && json.Unmarshal([]byte(result), &doc) == nil {
		msgs := []string{}
		if doc.ErrorMessage != "" {
			msgs = append(msgs, doc.ErrorMessage)
		}
		for _, ev := range doc.ErrorEvents {
			if ev.Message != "" && ev.Message != doc.ErrorMessage {
				msgs = append(msgs, ev.Message)
			}
		}
		e.Message = strings.Join(msgs, "; ")
		if doc.Error != 0 && hr == 0 {
			e.HRESULT = uint32(doc.Error)
		}
	} else if result != "" {
		e.Message = result
	}
	return e
}
