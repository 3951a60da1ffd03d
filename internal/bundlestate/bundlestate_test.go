package bundlestate

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	type st struct{ A string }
	dir := t.TempDir()
	var got st
	if found, err := Read(dir, "s.json", &got); found || err != nil {
		t.Fatalf("Read of a missing file = %v, %v", found, err)
	}
	if err := Write(dir, "s.json", st{A: "x"}); err != nil {
		t.Fatal(err)
	}
	if found, err := Read(dir, "s.json", &got); !found || err != nil || got.A != "x" {
		t.Fatalf("Read = %v, %v, %+v", found, err, got)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.json.tmp")); !os.IsNotExist(err) {
		t.Fatal("temporary file left")
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if found, err := Read(dir, "bad.json", &got); !found || err == nil {
		t.Fatalf("Read of a malformed file = %v, %v", found, err)
	}
	for i := 0; i < 2; i++ {
		if err := Remove(dir, "s.json"); err != nil {
			t.Fatalf("Remove #%d: %v", i, err)
		}
	}
}
