//go:build linux

package harness

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// VMOptions returns ctr's flags for a container in a utility VM of its
// own: winctr as the runtime, with a runtime options file that asks for
// hypervisor isolation, followed by the TOML lines extra. A pod cannot
// choose hypervisor isolation by annotation unless the options allow it,
// so the options choose it, as an operator's handler does. The file lives
// under the repository's _output, named by its content, so that runs
// share it and leave nothing elsewhere; test code has no way on if it
// cannot be written, so that panics.
func VMOptions(extra string) []string {
	return []string{"--runtime", Runtime, "--runtime-config-path", VMOptionsFile(extra)}
}

// VMOptionsFile is VMOptions' options file alone; the VM boots from
// BootFiles unless extra names its own.
func VMOptionsFile(extra string) string {
	if !strings.Contains(extra, "boot_files_root_path") {
		extra = BootFilesOption() + extra
	}
	return OptionsFile("isolation = \"hypervisor\"\n" + extra)
}

// OptionsFile writes a runtime options file with body under the
// repository's _output and returns its path.
func OptionsFile(body string) string {
	repo, err := Repo()
	if err != nil {
		panic(err)
	}
	dir := filepath.Join(repo, "_output", "test-options")
	path := filepath.Join(dir, fmt.Sprintf("%x", sha256.Sum256([]byte(body)))[:16]+".toml")
	if b, err := os.ReadFile(path); err == nil && string(b) == body {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(err)
	}
	tmp := fmt.Sprintf("%s.%d", path, os.Getpid())
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		panic(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		panic(err)
	}
	return path
}

// Tool finds a program as the harness's containerd and its shims find it:
// the project's tools directory first, then PATH (runc, say).
func Tool(name string) (string, error) {
	repo, err := Repo()
	if err != nil {
		return "", err
	}
	return tool(repo, name)
}
