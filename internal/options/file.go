package options

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	optionsv1 "github.com/winctr/winctr/protos/options/v1"
)

// FileName is where, in a bundle or a pool entry, the shim's start keeps
// the runtime options containerd gave it: a sandbox of the Sandbox API and
// a pooled shim get them nowhere else.
const FileName = "winctr-runtime-options.pb"

// Save keeps a, the runtime options as containerd sent them, in dir.
func Save(dir string, a *anypb.Any) error {
	b, err := proto.Marshal(a)
	if err != nil {
		return fmt.Errorf("save runtime options: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o600); err != nil {
		return fmt.Errorf("save runtime options: %w", err)
	}
	return nil
}

// Load decodes the runtime options Save kept in dir; the defaults when
// there are none.
func Load(dir string) (*optionsv1.Options, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return Decode(nil)
	}
	if err != nil {
		return nil, err
	}
	var a anypb.Any
	if err := proto.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("saved runtime options: %w", err)
	}
	return Decode(&a)
}
