//go:build linux

package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Events collects `ctr events` lines in the background.
type Events struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	seen []string
}

// WatchEvents subscribes to containerd's events until the test ends.
func (c *Containerd) WatchEvents(t testing.TB) *Events {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &Events{cmd: c.CtrCmd(ctx, "events")}
	out, err := e.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			e.mu.Lock()
			e.seen = append(e.seen, sc.Text())
			e.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = e.cmd.Wait()
	})
	time.Sleep(300 * time.Millisecond) // let the subscription start
	return e
}

// Topics returns, in order, the task topics seen for container id; a
// TaskExit is labelled (task) or (exec).
func (e *Events) Topics(id string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, l := range e.seen {
		if !strings.Contains(l, `"container_id":"`+id+`"`) {
			continue
		}
		for _, f := range strings.Fields(l) {
			if strings.HasPrefix(f, "/tasks/") {
				label := f
				if f == "/tasks/exit" {
					if strings.Contains(l, `"id":"`+id+`"`) {
						label = "/tasks/exit(task)"
					} else {
						label = "/tasks/exit(exec)"
					}
				}
				out = append(out, label)
			}
		}
	}
	return out
}

// TaskExit is a task's exit event as ctr events prints it.
type TaskExit struct {
	ContainerID string `json:"container_id"`
	ID          string `json:"id"`
	ExitStatus  uint32 `json:"exit_status"`
}

// TaskExit returns the exit event of task id (its init, not an exec), if
// one was seen.
func (e *Events) TaskExit(id string) (TaskExit, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.seen {
		i := strings.Index(l, " /tasks/exit ")
		if i < 0 {
			continue
		}
		var ev TaskExit
		if json.Unmarshal([]byte(strings.TrimSpace(l[i+len(" /tasks/exit "):])), &ev) == nil && ev.ContainerID == id && ev.ID == id {
			return ev, true
		}
	}
	return TaskExit{}, false
}
