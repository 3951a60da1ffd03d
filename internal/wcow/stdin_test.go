package wcow

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

type recordingPipe struct{ calls *[]string }

func (r recordingPipe) Write(b []byte) (int, error) {
	*r.calls = append(*r.calls, "write")
	return len(b), nil
}
func (r recordingPipe) Close() error { *r.calls = append(*r.calls, "close pipe"); return nil }

// TestStdinCloseTellsHCS: a Hyper-V isolated process reads EOF only when
// HCS closes its stdin handle in the guest, so the end of stdin asks HCS
// first, then closes the host's pipe end.
func TestStdinCloseTellsHCS(t *testing.T) {
	var calls []string
	var sent []byte
	w := hcsStdin{pipe: recordingPipe{&calls}, modify: func(req any) error {
		calls = append(calls, "close handle")
		var err error
		sent, err = json.Marshal(req)
		return err
	}}
	if _, err := w.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"write", "close handle", "close pipe"}; !slices.Equal(calls, want) {
		t.Errorf("calls %v, want %v", calls, want)
	}
	if want := `{"Operation":"CloseHandle","CloseHandle":{"Handle":"StdIn"}}`; string(sent) != want {
		t.Errorf("sent %s, want %s", sent, want)
	}
	// The pipe is closed even when HCS refuses (the process has exited).
	calls = nil
	w.modify = func(any) error { return errors.New("process gone") }
	if err := w.Close(); err == nil || !slices.Contains(calls, "close pipe") {
		t.Errorf("refused close handle: %v, calls %v", err, calls)
	}
}
