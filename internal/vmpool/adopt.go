package vmpool

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// Adoption is what a claimed shim learns of the pod it now serves.
type Adoption struct {
	// Bundle is the first task's bundle: the shim works and logs there
	// from now on, as if started in it.
	Bundle string `json:"bundle"`
	// Address is the socket address containerd knows the pod's shim by;
	// the shim removes it when it exits.
	Address string `json:"address"`
	// TaskID is the task the pod's shim was started for.
	TaskID string `json:"task_id"`
}

type adoptReply struct {
	Error string `json:"error,omitempty"`
}

// adoptTimeout bounds the exchange: the shim answers at once, its VM is
// booted already.
const adoptTimeout = 5 * time.Second

// Adopt hands a claimed entry's shim its pod, and returns once the shim
// has taken it.
func Adopt(ctx context.Context, e *Entry, a Adoption) error {
	ctx, cancel := context.WithTimeout(ctx, adoptTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", filepath.Join(e.Dir, CtlSocket))
	if err != nil {
		return fmt.Errorf("pooled shim %s: %w", e.ID, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if err := json.NewEncoder(c).Encode(a); err != nil {
		return fmt.Errorf("pooled shim %s: %w", e.ID, err)
	}
	var r adoptReply
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return fmt.Errorf("pooled shim %s did not answer: %w", e.ID, err)
	}
	if r.Error != "" {
		return fmt.Errorf("pooled shim %s: %s", e.ID, r.Error)
	}
	return nil
}

// ServeAdoption answers on ln until one adoption succeeded, which it
// returns; take does the shim's part and may refuse. ln is closed on
// return. A claimer that got no answer kills the shim (see Adopt's
// callers), so a shim adopted by a claimer that gave up does not linger.
func ServeAdoption(ln net.Listener, take func(Adoption) error) (Adoption, error) {
	defer ln.Close()
	for {
		c, err := ln.Accept()
		if err != nil {
			return Adoption{}, err
		}
		if a, ok := answer(c, take); ok {
			return a, nil
		}
	}
}

// answer handles one request; a malformed one or one take refuses leaves
// the shim waiting for the next.
func answer(c net.Conn, take func(Adoption) error) (Adoption, bool) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(adoptTimeout))
	var a Adoption
	if err := json.NewDecoder(c).Decode(&a); err != nil {
		return a, false
	}
	if err := take(a); err != nil {
		_ = json.NewEncoder(c).Encode(adoptReply{Error: err.Error()})
		return a, false
	}
	_ = json.NewEncoder(c).Encode(adoptReply{})
	return a, true
}
