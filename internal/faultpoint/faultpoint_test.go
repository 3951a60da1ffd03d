package faultpoint

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReach(t *testing.T) {
	d := t.TempDir()
	t.Setenv(EnvDir, d)
	dir = func() string { return os.Getenv(EnvDir) }

	// Not armed, or armed elsewhere: every point passes.
	Reach("create")
	if err := os.WriteFile(filepath.Join(d, ArmedFile), []byte("delete\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	Reach("create")
	if _, err := os.Stat(filepath.Join(d, ReachedFile)); !os.IsNotExist(err) {
		t.Fatalf("a point that was not armed wrote %s: %v", ReachedFile, err)
	}

	stopped := make(chan struct{})
	go func() {
		Reach("delete")
		close(stopped)
	}()
	deadline := time.Now().Add(5 * time.Second)
	var got []byte
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(d, ReachedFile)); err == nil && strings.HasSuffix(string(b), "\n") {
			got = b
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if want := []string{strconv.Itoa(os.Getpid()), "delete"}; strings.Join(strings.Fields(string(got)), " ") != strings.Join(want, " ") {
		t.Fatalf("%s = %q, want %q", ReachedFile, got, want)
	}
	select {
	case <-stopped:
		t.Fatal("Reach returned at the armed point")
	case <-time.After(100 * time.Millisecond):
	}
	// A second shim passing the same point goes on: one stops per arming.
	Reach("delete")
}

func TestReachWithoutEnv(t *testing.T) {
	t.Setenv(EnvDir, "")
	dir = func() string { return os.Getenv(EnvDir) }
	Reach("anything")
}

// TestReachSlow: a point armed with a duration delays every passer by it
// and lets it go on.
func TestReachSlow(t *testing.T) {
	d := t.TempDir()
	t.Setenv(EnvDir, d)
	dir = func() string { return os.Getenv(EnvDir) }
	if err := os.WriteFile(filepath.Join(d, ArmedFile), []byte("unmount 200ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		start := time.Now()
		Reach("unmount")
		if took := time.Since(start); took < 200*time.Millisecond {
			t.Fatalf("passed the slow point in %s", took)
		}
	}
	start := time.Now()
	Reach("delete")
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("another point took %s", took)
	}
}
