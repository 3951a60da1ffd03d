//go:build linux

package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/version"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// bootFilesCandidates are where make install (PREFIX /usr/local, as the
// shim's default) and the Debian package (PREFIX /usr) put the boot
// files, tried in order when --boot-files is not given.
var bootFilesCandidates = []string{"/usr/local/share/winctr/lcow", "/usr/share/winctr/lcow"}

// defaultBootFiles is the first candidate with a kernel, else the first.
func defaultBootFiles() string {
	for _, d := range bootFilesCandidates {
		if _, err := os.Stat(filepath.Join(d, bootmanifest.KernelFile)); err == nil {
			return d
		}
	}
	return bootFilesCandidates[0]
}

var versionBootFiles string

var versionCommand = command{
	short:   "print winctr's, the agent's and the boot files' versions",
	summary: "Print winctr's version and revision, its Go version, the agent protocol\nit speaks and the agent version the boot files carry.",
	flags: func(fs *flag.FlagSet) {
		fs.StringVar(&versionBootFiles, "boot-files", "", "boot files directory (default: the installed one)")
	},
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		if len(args) != 0 {
			return usageError(fs, "no arguments expected")
		}
		dir := versionBootFiles
		if dir == "" {
			dir = defaultBootFiles()
		}
		type bootInfo struct {
			Dir string `json:"dir"`
			bootmanifest.Manifest
			Error string `json:"error,omitempty"`
		}
		v := struct {
			Version       string   `json:"version"`
			Revision      string   `json:"revision"`
			GoVersion     string   `json:"go_version"`
			AgentProtocol int      `json:"agent_protocol"`
			BootFiles     bootInfo `json:"boot_files"`
		}{version.Version, version.Revision, version.GoVersion, agent.ProtocolVersion, bootInfo{Dir: dir}}
		m, err := bootmanifest.Read(dir)
		if err != nil {
			v.BootFiles.Error = err.Error()
		}
		v.BootFiles.Manifest = m
		if c.format == "json" {
			return c.json(v)
		}
		fmt.Fprintf(c.stdout, "winctr:\n  Version:        %s\n  Revision:       %s\n  Go version:     %s\n  Agent protocol: %d\n",
			v.Version, v.Revision, v.GoVersion, v.AgentProtocol)
		fmt.Fprintf(c.stdout, "Boot files (%s):\n", dir)
		if err != nil {
			fmt.Fprintf(c.stdout, "  %v\n", err)
			return nil
		}
		fmt.Fprintf(c.stdout, "  Agent protocol: %d\n  Agent version:  %s\n  Kernel:         %s\n", m.AgentProtocol, m.AgentVersion, m.KernelRelease)
		return nil
	},
}
