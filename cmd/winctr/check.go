//go:build linux

package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"

	"github.com/winctr/winctr/internal/hostcheck"
	"github.com/winctr/winctr/internal/portforward"
	"github.com/winctr/winctr/internal/runchost"
	"github.com/winctr/winctr/internal/uvmdriver/qemu"
	agent "github.com/winctr/winctr/protos/agent/v1"
)

// osEnv is the real host.
type osEnv struct{}

func (osEnv) LookPath(f string) (string, error) { return exec.LookPath(f) }
func (osEnv) Output(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).Output()
}
func (osEnv) Stat(p string) (fs.FileInfo, error) { return os.Stat(p) }
func (osEnv) CanOpenRW(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}
func (osEnv) Geteuid() int            { return os.Geteuid() }
func (osEnv) ProbePortForward() error { return portforward.Probe() }

// cniDirs are where CNI plugins are installed: the CNI project's default
// and Debian's containernetworking-plugins.
var cniDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}

var checkCfg hostcheck.Config

var checkCommand = command{
	short:   "check this host's requirements for each isolation",
	summary: "Check whether this host can run winctr's pods: each requirement of each\nisolation, ok, warn or fail, with what to do. Exits 1 when one fails.",
	flags: func(fs *flag.FlagSet) {
		checkCfg = hostcheck.Config{}
		fs.StringVar(&checkCfg.Containerd, "containerd", "", "containerd binary (default: containerd on PATH)")
		fs.StringVar(&checkCfg.Runc, "runc", "", "runc binary, as the runtime's runc_binary (default: the one installed with winctr, else runc on PATH)")
		fs.StringVar(&checkCfg.QEMU, "qemu", "", "QEMU binary, as the runtime's qemu_binary (default: qemu-system-x86_64 on PATH)")
		fs.StringVar(&checkCfg.Virtiofsd, "virtiofsd", "", "virtiofsd binary, as the runtime's virtiofsd_binary (default: where the shim looks)")
		fs.StringVar(&checkCfg.BootFiles, "boot-files", "", "boot files directory, as the runtime's boot_files_root_path (default: the installed one)")
	},
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		if len(args) != 0 {
			return usageError(fs, "no arguments expected")
		}
		cfg := checkCfg
		if cfg.Runc == "" {
			cfg.Runc = runchost.DefaultBinary()
		}
		if cfg.BootFiles == "" {
			cfg.BootFiles = defaultBootFiles()
		}
		cfg.Shim, cfg.AgentProtocol = "containerd-shim-winctr-v1", agent.ProtocolVersion
		cfg.VirtiofsdCandidates, cfg.CNIDirs = qemu.VirtiofsdCandidates, cniDirs
		rs := hostcheck.Run(osEnv{}, cfg)
		if c.format == "json" {
			if err := c.json(struct {
				Results []hostcheck.Result `json:"results"`
				Failed  bool               `json:"failed"`
			}{rs, hostcheck.Failed(rs)}); err != nil {
				return err
			}
		} else {
			printChecks(c, rs)
		}
		if hostcheck.Failed(rs) {
			return exitError{code: 1}
		}
		return nil
	},
}

func printChecks(c *cli, rs []hostcheck.Result) {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tFOR\tDETAIL")
	counts := map[hostcheck.Status]int{}
	for _, r := range rs {
		counts[r.Status]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(string(r.Status)), r.Name, r.Scope, r.Detail)
		if r.Fix != "" {
			fmt.Fprintf(tw, "\t\t\t-> %s\n", r.Fix)
		}
	}
	tw.Flush()
	fmt.Fprintf(c.stdout, "\n%d ok, %d warning(s), %d failed\n", counts[hostcheck.OK], counts[hostcheck.Warn], counts[hostcheck.Fail])
}
