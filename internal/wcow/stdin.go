package wcow

import (
	"errors"
	"io"

	"github.com/winctr/winctr/internal/hcs"
	"github.com/winctr/winctr/internal/hcs/schema"
)

// hcsStdin is the host's end of a process's stdin pipe. Closing the pipe
// ends the stdin of a process on the host's kernel, but HCS relays a
// Hyper-V isolated process's stdin into its utility VM and closes the
// guest's handle only when asked (HcsModifyProcess CloseHandle), so Close
// asks first, then closes the pipe.
type hcsStdin struct {
	pipe io.WriteCloser
	// modify sends a schema.ProcessModifyRequest to the process.
	modify func(req any) error
}

func (s hcsStdin) Write(b []byte) (int, error) { return s.pipe.Write(b) }

func (s hcsStdin) Close() error {
	err := s.modify(schema.ProcessModifyRequest{Operation: "CloseHandle", CloseHandle: &schema.CloseHandle{Handle: "StdIn"}})
	if hcs.IsAlreadyStopped(err) {
		err = nil
	}
	return errors.Join(err, s.pipe.Close())
}
