package bootfiles

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
)

// libDirs are where the dynamic loader of a Debian amd64 system looks.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"}

// WithLibraries returns bin followed by every shared object it needs at
// run time (its interpreter and DT_NEEDED entries, recursively), as paths
// on root. The guest gets the libraries at the same paths, so that a
// dynamically linked crun runs there unchanged.
func WithLibraries(root, bin string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	var visit func(path string) error
	visit = func(path string) error {
		if seen[path] {
			return nil
		}
		seen[path] = true
		out = append(out, path)
		f, err := elf.Open(filepath.Join(root, path))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type != elf.PT_INTERP {
				continue
			}
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return fmt.Errorf("%s: interpreter: %w", path, err)
			}
			if n := len(b); n > 0 && b[n-1] == 0 {
				b = b[:n-1]
			}
			if err := visit(string(b)); err != nil {
				return err
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, lib := range libs {
			found := ""
			for _, d := range libDirs {
				if _, err := os.Stat(filepath.Join(root, d, lib)); err == nil {
					found = filepath.Join(d, lib)
					break
				}
			}
			if found == "" {
				return fmt.Errorf("%s needs %s, not found in %v", path, lib, libDirs)
			}
			if err := visit(found); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(bin); err != nil {
		return nil, err
	}
	return out, nil
}
