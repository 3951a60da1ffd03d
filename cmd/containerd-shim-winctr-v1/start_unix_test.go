//go:build !windows

package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveDeadSocket(t *testing.T) {
	for _, tt := range []struct {
		name     string
		alive    bool
		wantGone bool
	}{
		{"dead shim's socket goes", false, true},
		{"live shim's socket stays", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sock := filepath.Join(dir, "s")
			l, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			// Like a killed shim: the file outlives the listener.
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			if tt.alive {
				defer l.Close()
			} else {
				l.Close()
			}
			boot := `{"version":3,"address":"unix://` + sock + `","protocol":"ttrpc"}`
			if err := os.WriteFile(filepath.Join(dir, "bootstrap.json"), []byte(boot), 0o600); err != nil {
				t.Fatal(err)
			}
			removeDeadSocket(context.Background(), dir)
			_, err = os.Stat(sock)
			if gone := os.IsNotExist(err); gone != tt.wantGone {
				t.Fatalf("socket gone = %v, want %v", gone, tt.wantGone)
			}
		})
	}
	// No bootstrap.json (containerd before 2.0 wrote none): nothing happens.
	removeDeadSocket(context.Background(), t.TempDir())
}
