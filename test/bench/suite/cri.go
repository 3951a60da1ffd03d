//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/winctr/winctr/test/harness"
)

// criImage is the busybox image as CRI names it.
const criImage = "docker.io/local/busybox:latest"

// criSecondContainer: CreateContainer + StartContainer of another
// container in a running VM pod, against the same in a host-kernel pod,
// interleaved. Both pods run their pause container first, so every
// measured container is at least the pod's second.
func criSecondContainer(ctx context.Context, cfg config) (figs []Figure, retErr error) {
	harness.CRIBootFiles = cfg.bootfiles
	c, err := harness.StartCRI(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		keepLog(cfg, c, ".cri")
		c.Close()
	}()
	conn, err := c.CRIConn()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	logs, err := os.MkdirTemp("", "winctr-bench-cri-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(logs)

	type pod struct {
		id  string
		cfg *runtimeapi.PodSandboxConfig
	}
	runPod := func(handler, name string, annotations map[string]string) (*pod, error) {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		pc := &runtimeapi.PodSandboxConfig{
			Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: name + "-uid"},
			Hostname:     name,
			LogDirectory: logs,
			Annotations:  annotations,
			Linux:        &runtimeapi.LinuxPodSandboxConfig{CgroupParent: c.CRI().CgroupParent + "/" + name},
		}
		resp, err := rt.RunPodSandbox(cctx, &runtimeapi.RunPodSandboxRequest{Config: pc, RuntimeHandler: handler})
		if err != nil {
			return nil, fmt.Errorf("RunPodSandbox(%s): %w", handler, err)
		}
		return &pod{id: resp.PodSandboxId, cfg: pc}, nil
	}
	var pods []*pod
	defer func() {
		for _, p := range pods {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			_, err1 := rt.StopPodSandbox(cctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id})
			_, err2 := rt.RemovePodSandbox(cctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id})
			cancel()
			if err := errors.Join(err1, err2); err != nil && retErr == nil {
				retErr = fmt.Errorf("remove pod: %w", err)
			}
		}
	}()
	vmPod, err := runPod(harness.HandlerHypervisor, "bench-vm", nil)
	if err != nil {
		return nil, err
	}
	pods = append(pods, vmPod)
	hostPod, err := runPod(harness.HandlerProcess, "bench-host", nil)
	if err != nil {
		return nil, err
	}
	pods = append(pods, hostPod)

	start := func(p *pod, name string) (float64, error) {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		cc := &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name},
			Image:    &runtimeapi.ImageSpec{Image: criImage},
			Command:  []string{"sleep", "100000"},
			LogPath:  name + ".log",
			Linux:    &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{}},
		}
		t0 := time.Now()
		resp, err := rt.CreateContainer(cctx, &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, Config: cc, SandboxConfig: p.cfg})
		if err != nil {
			return 0, fmt.Errorf("CreateContainer %s: %w", name, err)
		}
		if _, err := rt.StartContainer(cctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
			return 0, fmt.Errorf("StartContainer %s: %w", name, err)
		}
		return ms(time.Since(t0)), nil
	}
	var vm, host []float64
	for i := 0; i < cfg.runs; i++ {
		d, err := start(vmPod, fmt.Sprintf("vm-%d", i))
		if err != nil {
			return nil, err
		}
		vm = append(vm, d)
		if d, err = start(hostPod, fmt.Sprintf("host-%d", i)); err != nil {
			return nil, err
		}
		host = append(host, d)
	}
	return []Figure{paired("CRI create+start, another container in a UVM pod", "ms", vm,
		"same in a host-kernel pod", host, "ratio <= 1.5")}, nil
}
