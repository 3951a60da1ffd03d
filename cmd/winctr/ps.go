//go:build linux

package main

import (
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/winctr/winctr/internal/nodestate"
)

// nodePaths is where the commands read the node's state; tests move it.
var nodePaths = nodestate.DefaultPaths()

// now is the clock the uptimes are taken against.
var now = time.Now

var psNamespace string

var psCommand = command{
	short:   "list the node's pods, their VMs and host memory",
	summary: "List the node's winctr pods from their shims' state: namespace, pod (the\nshim's id), isolation, shim and VM pids, VM size, host memory (PSS of shim,\nQEMU and virtiofsd), uptime and containers.",
	flags: func(fs *flag.FlagSet) {
		fs.StringVar(&psNamespace, "n", "", "only this containerd namespace")
	},
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		if len(args) != 0 {
			return usageError(fs, "no arguments expected")
		}
		pods, err := nodestate.Scan(nodePaths)
		if err != nil {
			return err
		}
		if psNamespace != "" {
			var kept []nodestate.Pod
			for _, p := range pods {
				if p.Namespace == psNamespace {
					kept = append(kept, p)
				}
			}
			pods = kept
		}
		if pods == nil {
			pods = []nodestate.Pod{}
		}
		if c.format == "json" {
			return c.json(pods)
		}
		printPods(c, pods)
		return nil
	},
}

func printPods(c *cli, pods []nodestate.Pod) {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tPOD\tISOLATION\tSHIM\tVM PID\tVCPUS\tVM MEM\tHOST PSS\tUPTIME\tCONTAINERS")
	for _, p := range pods {
		iso := p.Isolation
		if p.Pooled {
			iso += " (pool)"
		}
		vmPid, cpus, mem := "-", "-", "-"
		if p.VM != nil {
			vmPid, cpus, mem = fmt.Sprint(p.VM.QEMUPid), fmt.Sprint(p.VM.CPUs), fmt.Sprintf("%d MB", p.VM.MemoryMB)
		}
		containers := strings.Join(p.Containers, ",")
		if containers == "" {
			containers = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Namespace, p.ID, iso, p.ShimPid, vmPid, cpus, mem,
			mib(p.HostPSS), now().Sub(p.Started).Round(time.Second), containers)
	}
	tw.Flush()
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// findPod finds the pod named on a command line.
func findPod(ns, id string) (nodestate.Pod, error) {
	pods, err := nodestate.Scan(nodePaths)
	if err != nil {
		return nodestate.Pod{}, err
	}
	p, ok := nodestate.Find(pods, ns, id)
	if !ok {
		return p, fmt.Errorf("no winctr pod %q on this node (or the prefix names several): see winctr ps", id)
	}
	return p, nil
}
