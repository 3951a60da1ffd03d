//go:build linux

package vmpool

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
)

// shimLike starts a process whose command line names id, as a pooled
// shim's does, and ends it with the test.
func shimLike(t *testing.T, id string) int {
	t.Helper()
	// Two commands, so that the shell stays (it would exec a lone one).
	cmd := exec.Command("sh", "-c", "sleep 60; exit 0", id)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

func TestScanAndClaim(t *testing.T) {
	type entry struct {
		pid   string // "live", "dead", "none"
		ready bool
	}
	tests := []struct {
		name      string
		entries   []entry
		live      int
		dead      int
		claimable bool
	}{
		{"empty pool", nil, 0, 0, false},
		{"booting", []entry{{"live", false}}, 1, 0, false},
		{"being spawned", []entry{{"none", false}}, 1, 0, false},
		{"ready", []entry{{"live", true}}, 1, 0, true},
		{"ready but its shim died", []entry{{"dead", true}}, 0, 1, false},
		{"one dead, one ready", []entry{{"dead", false}, {"live", true}}, 1, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Open(t.TempDir(), Key("a", tt.name))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.entries {
				e, err := p.NewEntry()
				if err != nil {
					t.Fatal(err)
				}
				switch want.pid {
				case "live":
					err = e.WriteFile(PidFile, strconv.Itoa(shimLike(t, e.ID)))
				case "dead":
					// pid 1 runs, but is not this entry's shim.
					err = e.WriteFile(PidFile, "1")
				}
				if err != nil {
					t.Fatal(err)
				}
				if want.ready {
					if err := MarkReady(e.Dir); err != nil {
						t.Fatal(err)
					}
				}
			}
			live, dead, err := p.Scan()
			if err != nil {
				t.Fatal(err)
			}
			if len(live) != tt.live || len(dead) != tt.dead {
				t.Fatalf("scan: %d live, %d dead; want %d, %d", len(live), len(dead), tt.live, tt.dead)
			}
			e, err := p.Claim()
			if !tt.claimable {
				if !errdefs.IsNotFound(err) {
					t.Fatalf("claim: %v, want not found", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(e.Dir) != claimedPrefix+e.ID {
				t.Fatalf("claimed entry at %s", e.Dir)
			}
			// A claimed entry is neither counted nor claimed again, and
			// goes with its shim's own path for it.
			defer func() {
				if err := RemoveEntry(filepath.Join(p.Dir(), e.ID)); err != nil || exists(e.Dir) {
					t.Errorf("claimed entry left after RemoveEntry: %v", err)
				}
			}()
			live2, _, _ := p.Scan()
			if len(live2) != tt.live-1 {
				t.Fatalf("after the claim: %d live, want %d", len(live2), tt.live-1)
			}
			if _, err := p.Claim(); !errdefs.IsNotFound(err) {
				t.Fatalf("second claim: %v, want not found", err)
			}
		})
	}
}

// TestClaimOnce: of many claimers racing for one ready entry, one wins.
func TestClaimOnce(t *testing.T) {
	p, err := Open(t.TempDir(), Key("race"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := p.NewEntry()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WriteFile(PidFile, strconv.Itoa(shimLike(t, e.ID))); err != nil {
		t.Fatal(err)
	}
	if err := MarkReady(e.Dir); err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Claim(); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errdefs.IsNotFound(err) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d claimers won the one entry", wins)
	}
}

func TestAdopt(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, CtlSocket))
	if err != nil {
		t.Fatal(err)
	}
	want := Adoption{Bundle: "/b", Address: "unix:///s", TaskID: "t"}
	refuse := true
	done := make(chan Adoption, 1)
	go func() {
		a, err := ServeAdoption(ln, func(a Adoption) error {
			if refuse {
				refuse = false
				return errors.New("not yet")
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		done <- a
	}()
	e := &Entry{ID: "pool-x", Dir: dir}
	// A malformed request leaves the shim waiting.
	if c, err := net.Dial("unix", filepath.Join(dir, CtlSocket)); err == nil {
		_, _ = c.Write([]byte("{not json\n"))
		c.Close()
	}
	if err := Adopt(context.Background(), e, want); err == nil || !strings.Contains(err.Error(), "not yet") {
		t.Fatalf("refused adoption: %v", err)
	}
	if err := Adopt(context.Background(), e, want); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != want {
		t.Fatalf("adopted with %+v, want %+v", got, want)
	}
	// The shim answers no more: a second claimer fails at once.
	if err := Adopt(context.Background(), e, want); err == nil {
		t.Fatal("adopted twice")
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
