//go:build linux

package runchost

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// runcLogFile is runc's JSON log in the bundle. runc writes its reasons
// there, not to its stderr, which belongs to the container.
const runcLogFile = "log.json"

// lastRuncError returns the last error runc logged, or "" when none.
func lastRuncError(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && (e.Level == "error" || e.Level == "fatal") {
			last = e.Msg
		}
	}
	return last
}

// withRuncLog adds runc's logged reason to a failed runc call's error.
func withRuncLog(err error, path string) error {
	if msg := lastRuncError(path); msg != "" {
		return fmt.Errorf("%s: %w", msg, err)
	}
	return err
}
