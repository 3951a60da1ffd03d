//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

func run(args ...string) []string {
	return append([]string{"run", "--rm", "--runtime", harness.Runtime}, args...)
}

func TestRunOutputAndExitCodes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		args []string
		out  string
		code int
	}{
		{"echo", []string{"echo", "hello"}, "hello\n", 0},
		{"exit 0", []string{"sh", "-c", "exit 0"}, "", 0},
		{"exit 3", []string{"sh", "-c", "echo before; exit 3"}, "before\n", 3},
		{"stderr", []string{"sh", "-c", "echo oops >&2; exit 1"}, "", 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("run-%d", i)
			r := cd.Ctr(ctx, run(append([]string{image.Name, id}, tt.args...)...)...)
			if r.Code != tt.code {
				t.Fatalf("exit code %d, want %d (%v): %s", r.Code, tt.code, r.Err, r.Output())
			}
			if r.Stdout != tt.out {
				t.Fatalf("stdout %q, want %q", r.Stdout, tt.out)
			}
			if tt.name == "stderr" && !strings.Contains(r.Stderr, "oops") {
				t.Fatalf("stderr %q lacks the container's output", r.Stderr)
			}
		})
	}
}

func TestKilledTaskExits137(t *testing.T) {
	ctx := context.Background()
	id := "kill9"
	cd.CleanupTask(t, id)
	cmd := cd.CtrCmd(ctx, run(image.Name, id, "sleep", "1000")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cd.WaitRunning(t, id)
	if r := cd.Ctr(ctx, "task", "kill", "-s", "9", id); r.Err != nil {
		t.Fatalf("kill: %v %s", r.Err, r.Output())
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errorsAs(err, &exit) || exit.ExitCode() != 137 {
			t.Fatalf("ctr run ended with %v, want exit status 137", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("ctr run did not end after kill -9")
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

func TestStdinEchoedBack(t *testing.T) {
	input := "line one\nline two\n" + strings.Repeat("x", 100000) + "\n"
	r := cd.CtrInput(context.Background(), input, run(image.Name, "stdin", "cat")...)
	if r.Err != nil {
		t.Fatalf("ctr run: %v %s", r.Err, r.Stderr)
	}
	if r.Stdout != input {
		t.Fatalf("got %d bytes back, want %d", len(r.Stdout), len(input))
	}
}

func TestTTYWithResize(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := "tty"
	cd.CleanupTask(t, id)
	// ctr sizes the terminal only after the task started, so the
	// container waits a moment before it reports the size.
	cmd := cd.CtrCmd(ctx, "run", "--rm", "-t", "--runtime", harness.Runtime, image.Name, id,
		"sh", "-c", "sleep 1; stty size; read line; stty size; echo got:$line")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(ptmx)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
	}()
	var seen []string
	expect := func(want string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("output ended before %q; saw %q", want, seen)
				}
				seen = append(seen, l)
				if strings.HasSuffix(l, want) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no %q on the terminal; saw %q", want, seen)
			}
		}
	}
	expect("24 80")
	// ctr forwards SIGWINCH from its terminal to the task (ResizePty).
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 132}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := io.WriteString(ptmx, "hi\r"); err != nil {
		t.Fatal(err)
	}
	expect("40 132")
	expect("got:hi")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ctr run -t: %v", err)
	}
}

func TestExecPsMetricsPauseResume(t *testing.T) {
	ctx := context.Background()
	id := "long"
	cd.CleanupTask(t, id)
	cd.StartSleeper(t, id, "--runtime", harness.Runtime)

	r := cd.Ctr(ctx, "task", "exec", "--exec-id", "ex1", id, "sh", "-c", "echo from-exec; exit 5")
	if r.Code != 5 || r.Stdout != "from-exec\n" {
		t.Fatalf("exec: code %d out %q (%v %s)", r.Code, r.Stdout, r.Err, r.Stderr)
	}
	r = cd.Ctr(ctx, "task", "exec", "--exec-id", "ex2", id, "true")
	if r.Code != 0 {
		t.Fatalf("exec true: %d %s", r.Code, r.Output())
	}

	r = cd.Ctr(ctx, "task", "ps", id)
	if r.Err != nil || len(strings.Split(strings.TrimSpace(r.Stdout), "\n")) < 2 {
		t.Fatalf("ps: %v %q", r.Err, r.Output())
	}

	r = cd.Ctr(ctx, "task", "metrics", id)
	if r.Err != nil || !strings.Contains(r.Stdout, "memory") || !strings.Contains(r.Stdout, "pids.current") {
		t.Fatalf("metrics: %v %q", r.Err, r.Output())
	}

	if r := cd.Ctr(ctx, "task", "pause", id); r.Err != nil {
		t.Fatalf("pause: %v %s", r.Err, r.Output())
	}
	if s := cd.TaskStatus(id); s != "PAUSED" {
		t.Fatalf("status after pause %q", s)
	}
	if r := cd.Ctr(ctx, "task", "resume", id); r.Err != nil {
		t.Fatalf("resume: %v %s", r.Err, r.Output())
	}
	if s := cd.TaskStatus(id); s != "RUNNING" {
		t.Fatalf("status after resume %q", s)
	}
}

func TestEventOrder(t *testing.T) {
	checkEventOrder(t, "events", "--runtime", harness.Runtime)
}

// checkEventOrder runs a container with runArgs, two execs (one still
// running when the task is killed) and checks the order of its events.
func checkEventOrder(t *testing.T, id string, runArgs ...string) {
	t.Helper()
	ctx := context.Background()
	ev := cd.WatchEvents(t)
	cd.CleanupTask(t, id)
	cd.StartSleeper(t, id, runArgs...)
	if r := cd.Ctr(ctx, "task", "exec", "--exec-id", "ev1", id, "true"); r.Err != nil {
		t.Fatalf("exec: %v %s", r.Err, r.Output())
	}
	// An exec still running when the task dies must exit first.
	bg := cd.CtrCmd(ctx, "task", "exec", "--exec-id", "ev2", id, "sleep", "1000")
	if err := bg.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300 && countOf(ev.Topics(id), "/tasks/exec-started") < 2; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	cd.Ctr(ctx, "task", "kill", "-s", "9", id)
	_ = bg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && cd.TaskStatus(id) != "STOPPED" {
		time.Sleep(100 * time.Millisecond)
	}
	if r := cd.Ctr(ctx, "task", "rm", id); r.Err != nil {
		t.Fatalf("task rm: %v %s", r.Err, r.Output())
	}
	want := []string{
		"/tasks/create", "/tasks/start",
		"/tasks/exec-added", "/tasks/exec-started", "/tasks/exit(exec)",
		"/tasks/exec-added", "/tasks/exec-started", "/tasks/exit(exec)",
		"/tasks/exit(task)", "/tasks/delete",
	}
	var got []string
	for time.Now().Before(deadline) {
		if got = ev.Topics(id); len(got) >= len(want) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	// Nothing may follow the delete: a container's deletion once read as
	// an OOM in the guest, and its TaskOOM came after it.
	time.Sleep(time.Second)
	if got = ev.Topics(id); len(got) != len(want) {
		t.Fatalf("events after the delete: %v", got[len(want):])
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func TestManyContainersLeaveNothing(t *testing.T) {
	ctx := context.Background()
	var ids []string
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("many-%d", i)
		ids = append(ids, id)
		cd.CleanupTask(t, id)
		if r := cd.Ctr(ctx, "run", "-d", "--runtime", harness.Runtime, image.Name, id, "sleep", "1000"); r.Err != nil {
			t.Fatalf("run -d %s: %v %s", id, r.Err, r.Output())
		}
	}
	for _, id := range ids {
		cd.WaitRunning(t, id)
	}
	if n := len(cd.Shims()); n < 5 {
		t.Fatalf("%d shims for 5 standalone containers", n)
	}
	for _, id := range ids {
		if r := cd.Ctr(ctx, "task", "kill", "-s", "9", id); r.Err != nil {
			t.Fatalf("kill %s: %v %s", id, r.Err, r.Output())
		}
	}
	for _, id := range ids {
		cd.WaitStopped(t, id)
		cd.RemoveTask(t, id)
	}
	cd.AssertNoLeaks(t)
}

func TestBadInputIsRefusedClearly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	malformed := write("malformed.toml", "isolation = \"process\nvm_memory_size_in_mb = ")
	badIsolation := write("bogus.toml", "isolation = \"bogus\"\n")
	unknownField := write("unknown.toml", "isolaton = \"process\"\n")
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"malformed runtime options", []string{"--runtime-config-path", malformed}, []string{"malformed TOML", "invalid argument"}},
		{"unknown isolation in options", []string{"--runtime-config-path", badIsolation}, []string{"isolation", "bogus"}},
		{"misspelt option", []string{"--runtime-config-path", unknownField}, []string{"unknown field", "isolaton"}},
		{"unknown isolation annotation", []string{"--annotation", "io.winctr.isolation=bogus"}, []string{"io.winctr.isolation", "bogus"}},
		{"absurd VM size annotation", []string{"--annotation", "io.winctr.vm.memory-mb=-5"}, []string{"memory"}},
		{"container of a pod that is not there", []string{"--annotation", "io.kubernetes.cri.container-type=container", "--annotation", "io.kubernetes.cri.sandbox-id=nopod"},
			[]string{`pod sandbox "nopod"`, "does not run"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("bad-%d", i)
			cd.CleanupTask(t, id)
			args := append([]string{"run", "--rm", "--runtime", harness.Runtime}, tt.args...)
			r := cd.Ctr(ctx, append(args, image.Name, id, "echo", "never")...)
			if r.Err == nil {
				t.Fatalf("ctr run succeeded: %q", r.Stdout)
			}
			for _, w := range tt.wants {
				if !strings.Contains(r.Stderr, w) {
					t.Fatalf("error %q does not mention %q", r.Stderr, w)
				}
			}
			ok := cd.Ctr(ctx, run(image.Name, id+"-ok", "echo", "fine")...)
			if ok.Err != nil || ok.Stdout != "fine\n" {
				t.Fatalf("next good container: %v %q %s", ok.Err, ok.Stdout, ok.Stderr)
			}
		})
	}

	t.Run("spec without process", func(t *testing.T) {
		// ctr run --config takes a whole spec; this one has no process.
		rootfs := filepath.Join(dir, "rootfs")
		if err := os.MkdirAll(rootfs, 0o755); err != nil {
			t.Fatal(err)
		}
		spec := write("noprocess.json", fmt.Sprintf(`{"ociVersion":"1.1.0","root":{"path":%q},"linux":{}}`, rootfs))
		id := "bad-noproc"
		cd.CleanupTask(t, id)
		r := cd.Ctr(ctx, "run", "--rm", "--runtime", harness.Runtime, "--config", spec, id)
		if r.Err == nil {
			t.Fatal("ctr run of a spec without process succeeded")
		}
		if !strings.Contains(r.Stderr, "no process") {
			t.Fatalf("error %q does not say the spec has no process", r.Stderr)
		}
		ok := cd.Ctr(ctx, run(image.Name, id+"-ok", "echo", "fine")...)
		if ok.Err != nil || ok.Stdout != "fine\n" {
			t.Fatalf("next good container: %v %q %s", ok.Err, ok.Stdout, ok.Stderr)
		}
	})
}

func TestLogURIs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "logs", "c.log")
	// A binary:// logger: copies fd 3 (stdout) and fd 4 (stderr) to a file
	// and closes fd 5 to say it is ready.
	logger := filepath.Join(dir, "logger.sh")
	loggerOut := filepath.Join(dir, "logger.out")
	script := "#!/bin/sh\nexec 5>&-\ncat <&3 >> \"$1\" &\ncat <&4 >> \"$1\"\nwait\necho \"ns=$CONTAINER_NAMESPACE id=$CONTAINER_ID\" >> \"$1\"\n"
	if err := os.WriteFile(logger, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, uri, file string
		want            []string
	}{
		{"file", "file://" + logFile, logFile, []string{"to-stdout", "to-stderr"}},
		{"binary", "binary://" + logger + "?" + loggerOut, loggerOut, []string{"to-stdout", "to-stderr", "ns=" + harness.Namespace + " id=log-binary"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "log-" + tt.name
			r := cd.Ctr(ctx, "run", "--rm", "--runtime", harness.Runtime, "--log-uri", tt.uri, image.Name, id,
				"sh", "-c", "echo to-stdout; echo to-stderr >&2")
			if r.Err != nil {
				t.Fatalf("ctr run: %v %s", r.Err, r.Output())
			}
			deadline := time.Now().Add(10 * time.Second)
			var got string
			for time.Now().Before(deadline) {
				b, _ := os.ReadFile(tt.file)
				got = string(b)
				if containsAll(got, tt.want) {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Fatalf("log %s holds %q, want %q", tt.file, got, tt.want)
		})
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
