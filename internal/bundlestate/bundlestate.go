// Package bundlestate keeps, in a task's bundle, the little a Host must
// remember for the delete bootstrap: once a shim is gone its memory is
// lost and containerd hands `delete` nothing but the bundle.
package bundlestate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Write stores v as JSON in bundle/name, atomically: a shim killed while
// writing leaves the old file or the new one, never half of one.
func Write(bundle, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := filepath.Join(bundle, name+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write shim state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(bundle, name)); err != nil {
		return fmt.Errorf("write shim state: %w", err)
	}
	return nil
}

// Read loads bundle/name into v and reports whether the file was there.
func Read(bundle, name string, v any) (bool, error) {
	b, err := os.ReadFile(filepath.Join(bundle, name))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read shim state: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("shim state %s: %w", name, err)
	}
	return true, nil
}

// Remove deletes bundle/name; a file already gone is no error.
func Remove(bundle, name string) error {
	if err := os.Remove(filepath.Join(bundle, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
