package lcow

import (
	"io"
	"path/filepath"

	"github.com/winctr/winctr/internal/vmstate"
)

// openGuestLog opens one of the VM's logs in its state directory, where
// `winctr logs` reads it. Without it the log still reaches the shim's.
func (q *qemuVM) openGuestLog(name string) io.WriteCloser {
	if q.stateDir == "" {
		return nopLog{}
	}
	l, err := vmstate.OpenLog(filepath.Join(q.stateDir, name), vmstate.LogLimit)
	if err != nil {
		return nopLog{}
	}
	return l
}

// agentLog is where the agent's log lines go besides the shim's log.
func (h *Host) agentLog() io.WriteCloser {
	if q, ok := h.vm.(*qemuVM); ok {
		return q.openGuestLog(vmstate.AgentLog)
	}
	return nopLog{}
}
