//go:build linux

package gcs

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzStreamHeader feeds arbitrary first lines of a stream from the host:
// they must never panic, and what is accepted must be one of the three
// kinds, with a stdio fd of 0, 1 or 2 or a port of 1-65535 that reads
// back the same.
func FuzzStreamHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, line string) {
		h, ok := parseHeader(line)
		if !ok {
			return
		}
		switch h.kind {
		case "api", "logs":
		case "stdio":
			if h.fd < 0 || h.fd > 2 || h.key == "" || strings.ContainsAny(h.key, " \t\n") {
				t.Fatalf("accepted %q as %+v", line, h)
			}
			if again, ok := parseHeader("stdio " + h.key + " " + strconv.Itoa(h.fd) + "\n"); !ok || again != h {
				t.Fatalf("%+v does not read back", h)
			}
		case "port":
			if h.port == 0 {
				t.Fatalf("accepted %q as %+v", line, h)
			}
			if again, ok := parseHeader("port " + strconv.Itoa(int(h.port)) + "\n"); !ok || again != h {
				t.Fatalf("%+v does not read back", h)
			}
		default:
			t.Fatalf("accepted %q as kind %q", line, h.kind)
		}
	})
}
