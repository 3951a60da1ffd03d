package main

import "github.com/winctr/winctr/internal/pause"

// runPauseIfAsked turns this process into a pod's pause process when the
// runc host started it as one (see package pause).
func runPauseIfAsked() {
	if pause.Requested() {
		pause.Main()
	}
}
