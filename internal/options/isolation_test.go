package options

import (
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	optionsv1 "github.com/winctr/winctr/protos/options/v1"
)

func TestResolveSpec(t *testing.T) {
	windows := &specs.Spec{Windows: &specs.Windows{}}
	hyperv := &specs.Spec{Windows: &specs.Windows{HyperV: &specs.WindowsHyperV{}}}
	lcow := &specs.Spec{Linux: &specs.Linux{}, Windows: &specs.Windows{HyperV: &specs.WindowsHyperV{}}}
	linux := &specs.Spec{Linux: &specs.Linux{}}
	annotated := func(s *specs.Spec, k, v string) *specs.Spec {
		c := *s
		c.Annotations = map[string]string{k: v}
		return &c
	}
	hv := &optionsv1.Options{Isolation: optionsv1.Options_ISOLATION_HYPERVISOR}
	open := &optionsv1.Options{AllowedAnnotations: &optionsv1.StringList{Values: []string{"io.winctr.*"}}}
	for _, tc := range []struct {
		name      string
		opts      *optionsv1.Options
		spec      *specs.Spec
		host      string
		os        string
		isolation Isolation
		invalid   bool
	}{
		{"Windows spec: process isolation", nil, windows, "windows", "windows", IsolationProcess, false},
		{"windows.hyperv: a utility VM", nil, hyperv, "windows", "windows", IsolationHypervisor, false},
		{"hypervisor in the options", hv, windows, "windows", "windows", IsolationHypervisor, false},
		{"annotation cannot lower hyperv", open, annotated(hyperv, AnnotationIsolation, "process"), "windows", "", 0, true},
		{"annotation cannot make LCOW process-isolated", open, annotated(linux, AnnotationIsolation, "process"), "windows", "", 0, true},
		{"annotation may name hyperv's own isolation", open, annotated(hyperv, AnnotationIsolation, "hypervisor"), "windows", "windows", IsolationHypervisor, false},
		{"annotation raises a Windows container", open, annotated(windows, AnnotationIsolation, "hypervisor"), "windows", "windows", IsolationHypervisor, false},
		{"Linux spec on Windows: always LCOW", nil, linux, "windows", "linux", IsolationHypervisor, false},
		{"LCOW spec with a windows section", nil, lcow, "windows", "linux", IsolationHypervisor, false},
		{"Linux spec on Linux: process", nil, linux, "linux", "linux", IsolationProcess, false},
		{"Linux spec on Linux: hypervisor asked", hv, linux, "linux", "linux", IsolationHypervisor, false},
		{"Windows spec named on Linux", nil, windows, "linux", "windows", IsolationProcess, false},
		{"platform agrees", &optionsv1.Options{Platform: "windows/amd64"}, windows, "windows", "windows", IsolationProcess, false},
		{"platform contradicts spec", &optionsv1.Options{Platform: "linux"}, windows, "windows", "", 0, true},
		{"annotation contradicts spec", open, annotated(linux, AnnotationPlatform, "windows"), "linux", "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ResolveSpec(tc.opts, tc.spec, tc.host)
			if tc.invalid {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("got %v, want an invalid-argument error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.OS != tc.os || cfg.Isolation != tc.isolation {
				t.Errorf("got %s/%s, want %s/%s", cfg.OS, cfg.Isolation, tc.os, tc.isolation)
			}
		})
	}
}
