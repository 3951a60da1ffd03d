//go:build linux

package main

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/ttrpc"

	"github.com/winctr/winctr/internal/gcs"
	"github.com/winctr/winctr/internal/uvm"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// TestDialOutServesTheHostListener runs the agent's Hyper-V mode, dialling
// out, against the host's side, listening first, over a Unix socket in
// place of hvsocket: the host gets the same session (yamux streams with
// their headers) as on a virtio-serial port, and the agent retries until
// the host listens.
func TestDialOutServesTheHostListener(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "host.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var dials atomic.Int32
	dial := func() (net.Conn, error) {
		if dials.Add(1) < 3 {
			return nil, errors.New("connection refused") // the host not yet listening
		}
		return net.Dial("unix", ln.Addr().String())
	}
	svc := &service{modules: []string{"hv_sock"}, Containers: gcs.NewContainers(gcs.Config{})}
	served := make(chan error, 1)
	go func() { served <- serveDialOut(svc, dial, 10*time.Second) }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := uvm.AcceptSession(ctx, ln, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	resp, err := agent.NewAgentClient(client).Ping(ctx, &agent.PingRequest{})
	if err != nil {
		t.Fatalf("ping over the dialled-out session: %v", err)
	}
	if !slices.Equal(resp.ModulesLoaded, svc.modules) {
		t.Errorf("ping answered %v", resp.ModulesLoaded)
	}
	if n := dials.Load(); n != 3 {
		t.Errorf("agent dialled %d times, want 3", n)
	}
	// The host ending the session ends the agent's serving: on Hyper-V
	// the VM ends with its shim, so there is no one to dial again.
	s.Close()
	select {
	case err := <-served:
		if err == nil {
			t.Error("serving ended without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("agent still serving after the host closed the session")
	}
}

// TestDialOutGivesUp checks that an agent whose host never listens stops
// trying (and then powers the VM off) instead of hanging the boot.
func TestDialOutGivesUp(t *testing.T) {
	svc := &service{Containers: gcs.NewContainers(gcs.Config{})}
	err := serveDialOut(svc, func() (net.Conn, error) { return nil, errors.New("no listener") }, 200*time.Millisecond)
	if err == nil {
		t.Fatal("no error")
	}
}
