//go:build e2e

package fault

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/winctr/winctr/test/harness"
	"github.com/winctr/winctr/test/image"
)

// churnCycles is how many create/start/wait/delete cycles a mode runs;
// WINCTR_CHURN_HOST and WINCTR_CHURN_VM change them.
func churnCycles(t *testing.T, vm bool) int {
	env, n := "WINCTR_CHURN_HOST", 1000
	if vm {
		env, n = "WINCTR_CHURN_VM", 100
	}
	if v := os.Getenv(env); v != "" {
		c, err := strconv.Atoi(v)
		if err != nil || c < 10 {
			t.Fatalf("%s=%q: want a count of at least 10", env, v)
		}
		n = c
	}
	return n
}

// shimSample is what the churn watches of the pod's shim and the host.
type shimSample struct {
	fds, goroutines int
	rssKB           int
	mounts          int
	// fdTargets are where the fds point, to tell what grew.
	fdTargets []string
}

// TestChurn runs many short containers one after another in one pod (the
// shim, and in a VM the guest, live through all of them): the shim's open
// fds, goroutines and RSS and the host's mounts must be as flat in the
// last tenth of the cycles as in the first, and nothing may be left.
// Medians are logged; the checks are in the comments below.
func TestChurn(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			if mode.vm {
				harness.RequireBootFiles(t)
			}
			ctx := context.Background()
			pod := "churn-" + mode.name
			podArgs := append(append([]string{}, mode.args...), "--annotation", "io.kubernetes.cri.sandbox-id="+pod)
			before := cd.ShimSet()
			cd.CleanupTask(t, pod)
			cd.StartSleeper(t, pod, podArgs...)
			shim := cd.NewShim(t, before)

			n := churnCycles(t, mode.vm)
			tenth := n / 10
			var first, last []shimSample
			start := time.Now()
			for i := range n {
				id := fmt.Sprintf("%s-%d", pod, i)
				r := cd.Ctr(ctx, append(append([]string{"run", "--rm"}, podArgs...), image.Name, id, "sh", "-c", "exit 3")...)
				if r.Code != 3 {
					cd.CleanupTask(t, id)
					t.Fatalf("cycle %d: exit %d, want 3 (%v %s)", i, r.Code, r.Err, r.Output())
				}
				// Samples after the warm-up cycle, in the first and last tenth.
				switch {
				case i >= 1 && i <= tenth:
					first = append(first, sample(t, shim))
				case i >= n-tenth:
					last = append(last, sample(t, shim))
				}
			}
			took := time.Since(start)
			fds := func(s shimSample) int { return s.fds }
			gor := func(s shimSample) int { return s.goroutines }
			rss := func(s shimSample) int { return s.rssKB }
			mnt := func(s shimSample) int { return s.mounts }
			f := map[string]spread{"fds": spreadOf(first, fds), "goroutines": spreadOf(first, gor), "rss": spreadOf(first, rss), "mounts": spreadOf(first, mnt)}
			l := map[string]spread{"fds": spreadOf(last, fds), "goroutines": spreadOf(last, gor), "rss": spreadOf(last, rss), "mounts": spreadOf(last, mnt)}
			t.Logf("%d cycles in %s (%s each); shim first/last tenth median: fds %d/%d, goroutines %d/%d, RSS %d/%d KiB; host mounts %d/%d",
				n, took.Round(time.Second), (took / time.Duration(n)).Round(time.Millisecond),
				f["fds"].med, l["fds"].med, f["goroutines"].med, l["goroutines"].med, f["rss"].med, l["rss"].med, f["mounts"].med, l["mounts"].med)
			// Flat: what one cycle holds goes with it. A cycle's fd or
			// goroutine may still be on its way out when a sample is taken
			// (the OOM watcher closes a container's eventfd once it sees
			// the cgroup gone), so a count grew only if even the lowest
			// sample of the last tenth is above the highest of the first.
			// RSS has the Go heap's own swing: a quarter more (by median)
			// is let pass, a steady leak of a few KiB a cycle is not.
			for _, name := range []string{"fds", "goroutines", "mounts"} {
				if l[name].min > f[name].max {
					t.Errorf("%s grew: first tenth at most %d, last tenth at least %d", name, f[name].max, l[name].min)
				}
			}
			if l["fds"].min > f["fds"].max {
				t.Logf("shim fds, first sample %v, last %v", first[0].fdTargets, last[len(last)-1].fdTargets)
			}
			if l["rss"].med > f["rss"].med*5/4 {
				t.Errorf("shim RSS grew from %d to %d KiB", f["rss"].med, l["rss"].med)
			}
			cd.Ctr(ctx, "task", "kill", "-s", "9", pod)
			cd.WaitStopped(t, pod)
			cd.RemoveTask(t, pod)
			cd.AssertNoLeaks(t)
			if recs := cd.Records(); len(recs) > 0 {
				t.Fatalf("containerd still has %v", recs)
			}
		})
	}
}

// sample reads the shim's fds, goroutines and RSS and the host's mounts.
func sample(t *testing.T, shim int) shimSample {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", shim))
	if err != nil {
		t.Fatalf("shim %d: %v", shim, err)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, fd := range fds {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", shim, fd.Name()))
		targets = append(targets, fd.Name()+"->"+l)
	}
	return shimSample{
		fdTargets:  targets,
		fds:        len(fds),
		goroutines: goroutines(t, shim),
		rssKB:      rssKB(t, shim),
		mounts:     strings.Count(string(mounts), "\n"),
	}
}

func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	t.Fatalf("no VmRSS for %d", pid)
	return 0
}

var goroutineHeader = regexp.MustCompile(`goroutine \d+ \[`)

// goroutines counts the shim's goroutines from the stack dump that
// containerd's shim package writes to the shim's log on SIGUSR1.
func goroutines(t *testing.T, shim int) int {
	t.Helper()
	const end = "=== END goroutine stack dump ==="
	offset := logSize()
	if err := syscall.Kill(shim, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s := logSince(offset)
		if i := strings.Index(s, end); i >= 0 {
			if j := strings.LastIndex(s[:i], "=== BEGIN goroutine stack dump ==="); j >= 0 {
				return len(goroutineHeader.FindAllStringIndex(s[j:i], -1))
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("shim %d wrote no stack dump", shim)
	return 0
}

// spread is the lowest, median and highest of one figure over samples.
type spread struct{ min, med, max int }

// spreadOf returns the spread of the figure get over samples.
func spreadOf(samples []shimSample, get func(shimSample) int) spread {
	v := make([]int, len(samples))
	for i, s := range samples {
		v[i] = get(s)
	}
	slices.Sort(v)
	return spread{min: v[0], med: v[len(v)/2], max: v[len(v)-1]}
}
