package vmstate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), ConsoleLog)
	l, err := OpenLog(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"aaaa\n", "bbbb\n", "cccc\n", "dddddddddddddddd\n", "e\n"} {
		if n, err := l.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write([]byte("after close\n")); err != nil {
		t.Errorf("write after close: %v", err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// A line longer than the limit gets a file of its own.
	if got, prev := read(path), read(path+".1"); got != "e\n" || prev != "dddddddddddddddd\n" {
		t.Errorf("log %q, previous %q", got, prev)
	}
	if strings.Contains(read(path), "after close") {
		t.Error("written after close")
	}
}
