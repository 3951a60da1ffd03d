//go:build linux

// Command suite is `make bench`: winctr's figures against their baselines,
// each measured in the same invocation, interleaved (A B A B ...), as
// medians of repeated runs and the ratio of those medians. It prints a
// table and writes the same figures as JSON.
//
// The baselines are containerd's own runc shim (containerd-shim-runc-v2,
// built from the same containerd version) for the host-kernel figures, and
// QEMU booting the same kernel, with the driver's machine flags and a
// minimal init that powers off at once, for the utility VM.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/winctr/winctr/internal/lcow"
	"github.com/winctr/winctr/internal/uvmdriver/qemu"
	"github.com/winctr/winctr/test/harness"
)

// Report is what the JSON file holds.
type Report struct {
	Label   string   `json:"label,omitempty"`
	Date    string   `json:"date"`
	KVM     bool     `json:"kvm"`
	CPUs    int      `json:"cpus"`
	Kernel  string   `json:"host_kernel"`
	Runs    int      `json:"runs"`
	Pods    []int    `json:"pods"`
	Quick   bool     `json:"quick"`
	Seconds float64  `json:"seconds"`
	Figures []Figure `json:"figures"`
}

// config is the command line.
type config struct {
	runs      int
	pods      []int
	bootfiles string
	out       string
	keepLog   string
	only      map[string]bool
	// guestMB sizes each utility VM's memory; 0 keeps the shim's default.
	guestMB int
}

func (c config) want(section string) bool { return len(c.only) == 0 || c.only[section] }

func main() {
	runs := flag.Int("runs", 0, "measurements of each timed figure (default 7, 3 with -quick)")
	pods := flag.String("pods", "", "counts of idle UVM pods to measure, started one after another (default 10,25; 3 with -quick)")
	quick := flag.Bool("quick", false, "fewer runs and pods, for iterating")
	boot := flag.String("bootfiles", lcow.DefaultBootFiles, "boot files of the utility VM")
	out := flag.String("out", "", "JSON output file (default bench/results/bench-<time>.json)")
	label := flag.String("label", "", "label stored in the JSON (e.g. before, after)")
	keepLog := flag.String("containerd-log", "", "copy the ctr sections' containerd log (with the shims' debug log) here, the CRI section's to the same name + .cri")
	only := flag.String("only", "", "comma-separated sections to run: host,shim,uvm,warm,exec,cri,pods (default all)")
	guestMB := flag.Int("guest-mb", 0, "utility VM memory in MB for the ctr figures (default: the shim's)")
	flag.Parse()

	cfg := config{runs: *runs, bootfiles: *boot, out: *out, keepLog: *keepLog, only: map[string]bool{}, guestMB: *guestMB}
	if cfg.runs <= 0 {
		cfg.runs = 7
		if *quick {
			cfg.runs = 3
		}
	}
	podList := *pods
	if podList == "" {
		podList = "10,25"
		if *quick {
			podList = "3"
		}
	}
	for _, p := range strings.Split(podList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: bad -pods %q\n", podList)
			os.Exit(2)
		}
		cfg.pods = append(cfg.pods, n)
	}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.only[s] = true
		}
	}
	if cfg.out == "" {
		repo, err := harness.Repo()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		cfg.out = filepath.Join(repo, "bench", "results", "bench-"+time.Now().UTC().Format("20060102-150405")+".json")
	}

	start := time.Now()
	rep := Report{Label: *label, Date: start.UTC().Format(time.RFC3339), KVM: qemu.KVM(), CPUs: runtime.NumCPU(),
		Kernel: hostKernel(), Runs: cfg.runs, Pods: cfg.pods, Quick: *quick}
	figs, err := run(context.Background(), cfg)
	rep.Figures = figs
	rep.Seconds = time.Since(start).Seconds()
	printTable(rep)
	if werr := write(cfg.out, rep); werr != nil {
		fmt.Fprintln(os.Stderr, "bench:", werr)
		os.Exit(1)
	}
	fmt.Printf("JSON: %s\n", cfg.out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run measures every section asked for; on a failure it returns the
// figures measured so far with the error.
func run(ctx context.Context, cfg config) ([]Figure, error) {
	var figs []Figure
	if cfg.want("host") || cfg.want("shim") || cfg.want("uvm") || cfg.want("warm") || cfg.want("exec") || cfg.want("pods") {
		c, err := harness.Start(ctx)
		if err != nil {
			return nil, err
		}
		b := &bench{cfg: cfg, c: c}
		sections := []struct {
			name string
			fn   func(context.Context) ([]Figure, error)
		}{
			{"host", b.hostRun},
			{"shim", b.shimMemory},
			{"uvm", b.coldUVM},
			{"warm", b.warmUVM},
			{"exec", b.execAndMemory},
			{"pods", b.idlePods},
		}
		for _, s := range sections {
			if !cfg.want(s.name) {
				continue
			}
			fmt.Fprintf(os.Stderr, "bench: %s\n", s.name)
			f, err := s.fn(ctx)
			figs = append(figs, f...)
			if err != nil {
				b.close(ctx)
				return figs, fmt.Errorf("%s: %w", s.name, err)
			}
		}
		b.close(ctx)
	}
	if cfg.want("cri") {
		fmt.Fprintln(os.Stderr, "bench: cri")
		f, err := criSecondContainer(ctx, cfg)
		figs = append(figs, f...)
		if err != nil {
			return figs, fmt.Errorf("cri: %w", err)
		}
	}
	return figs, nil
}

func hostKernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func write(path string, rep Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func printTable(rep Report) {
	accel := "TCG (no /dev/kvm)"
	if rep.KVM {
		accel = "KVM"
	}
	fmt.Printf("winctr bench %s: %s, %d CPUs, host kernel %s, medians of %d runs (pods: %v), %.0f s\n",
		rep.Label, accel, rep.CPUs, rep.Kernel, rep.Runs, rep.Pods, rep.Seconds)
	fmt.Printf("%-50s %10s  %-34s %10s %7s  %s\n", "figure", "value", "baseline (same run, interleaved)", "baseline", "ratio", "target")
	for _, f := range rep.Figures {
		ratio, base := "", ""
		if f.Baseline != "" {
			ratio = fmt.Sprintf("%.2f", f.Ratio)
			base = fmt.Sprintf("%.1f %s", f.BaseVal, f.Unit)
		}
		fmt.Printf("%-50s %10s  %-34s %10s %7s  %s\n", f.Name, fmt.Sprintf("%.1f %s", f.Value, f.Unit), f.Baseline, base, ratio, f.Target)
	}
}
