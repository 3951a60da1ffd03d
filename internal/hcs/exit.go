package hcs

import (
	"encoding/json"

	"github.com/winctr/winctr/internal/hcs/schema"
)

// processExitCode is the exit code in a process's status document (its
// exit event's data, or its properties), or -1 when the document does not
// tell: HCS's wait for the process failed (LastWaitResult), and ExitCode
// is then not the process's.
func processExitCode(doc string) int {
	var st schema.ProcessStatus
	if doc == "" || json.Unmarshal([]byte(doc), &st) != nil || st.LastWaitResult != 0 {
		return -1
	}
	return int(st.ExitCode)
}
