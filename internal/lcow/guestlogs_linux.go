package lcow

import (
	"io"
	"path/filepath"

	"github.com/winctr/winctr/internal/vmstate"
)

// openGuestLog opens one of the VM's logs in its state directory, where
// `winctr logs` reads it. Without it the log still reaches the shim's.
func (h *Host) openGuestLog(name string) io.WriteCloser {
	if h.stateDir == "" {
		return nopLog{}
	}
	l, err := vmstate.OpenLog(filepath.Join(h.stateDir, name), vmstate.LogLimit)
	if err != nil {
		return nopLog{}
	}
	return l
}

// agentLog is where the agent's log lines go besides the shim's log.
func (h *Host) agentLog() io.WriteCloser { return h.openGuestLog(vmstate.AgentLog) }
