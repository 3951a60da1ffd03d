package options

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/typeurl/v2"

	optionsv1 "github.com/winctr/winctr/protos/options/v1"
)

func TestSaveLoad(t *testing.T) {
	a, err := typeurl.MarshalAnyToProto(&optionsv1.Options{RuncRoot: "/run/x", VmPoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		prepare  func(dir string) error
		wantRoot string
		wantErr  bool
	}{
		{name: "none saved: defaults", prepare: func(string) error { return nil }},
		{name: "saved", prepare: func(dir string) error { return Save(dir, a) }, wantRoot: "/run/x"},
		{name: "garbage", prepare: func(dir string) error {
			return os.WriteFile(filepath.Join(dir, FileName), []byte{0xff, 0xff}, 0o600)
		}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tc.prepare(dir); err != nil {
				t.Fatal(err)
			}
			o, err := Load(dir)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Load: %v, want error %v", err, tc.wantErr)
			}
			if err == nil && o.GetRuncRoot() != tc.wantRoot {
				t.Errorf("runc_root %q, want %q", o.GetRuncRoot(), tc.wantRoot)
			}
		})
	}
}
