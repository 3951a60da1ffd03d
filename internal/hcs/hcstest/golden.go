// Package hcstest compares HCS documents with the checked-in ones of a
// package's testdata, for the tests of the document builders.
package hcstest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden documents in testdata")

// Golden fails t unless doc, as HCS receives it (indented JSON), equals
// testdata/<name>; with -update it rewrites that file first.
func Golden(t *testing.T, name string, doc any) {
	t.Helper()
	got, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("document differs from %s:\n%s", path, got)
	}
}
