//go:build linux

package main

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
)

func TestLogHubBacklogThenLive(t *testing.T) {
	var console bytes.Buffer
	h := &logHub{subs: map[net.Conn]struct{}{}, console: &console}
	for i := 0; i < backlogLines+3; i++ {
		h.write([]byte("early\n"))
	}
	if n := strings.Count(console.String(), "early"); n != backlogLines+3 {
		t.Fatalf("console got %d early lines, want all %d while no stream is attached", n, backlogLines+3)
	}
	host, guest := net.Pipe()
	defer host.Close()
	lines := make(chan string, backlogLines+10)
	go func() {
		sc := bufio.NewScanner(host)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	h.attach(guest)
	h.write([]byte("live\n"))
	for i := 0; i < backlogLines; i++ {
		if l := <-lines; l != "early" {
			t.Fatalf("backlog line %d = %q", i, l)
		}
	}
	if l := <-lines; l != "live" {
		t.Fatalf("live line = %q", l)
	}
	if strings.Contains(console.String(), "live") {
		t.Fatal("a line went to the console while a log stream was attached")
	}

	// A stream whose reader is gone is dropped, and the console takes over.
	host.Close()
	h.write([]byte("after\n"))
	h.write([]byte("again\n"))
	if !strings.Contains(console.String(), "again") {
		t.Fatal("console did not take over after the log stream went away")
	}
}
