package options

import (
	"fmt"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	optionsv1 "github.com/winctr/winctr/protos/options/v1"
)

// TestIsolationFloor runs every isolation annotation a pod may write
// against every isolation a handler may be configured with: a pod may
// raise its isolation when the options allow the key, never lower it.
func TestIsolationFloor(t *testing.T) {
	allowIso := &optionsv1.StringList{Values: []string{AnnotationIsolation}}
	handlers := []struct {
		name  string
		opts  *optionsv1.Options
		floor Isolation
	}{
		{"unspecified", &optionsv1.Options{AllowedAnnotations: allowIso}, IsolationProcess},
		{"process", &optionsv1.Options{Isolation: optionsv1.Options_ISOLATION_PROCESS, AllowedAnnotations: allowIso}, IsolationProcess},
		{"hypervisor", &optionsv1.Options{Isolation: optionsv1.Options_ISOLATION_HYPERVISOR, AllowedAnnotations: allowIso}, IsolationHypervisor},
		{"default annotation hypervisor", &optionsv1.Options{AllowedAnnotations: allowIso,
			DefaultContainerAnnotations: map[string]string{AnnotationIsolation: "hypervisor"}}, IsolationHypervisor},
		{"process, default annotation hypervisor", &optionsv1.Options{Isolation: optionsv1.Options_ISOLATION_PROCESS, AllowedAnnotations: allowIso,
			DefaultContainerAnnotations: map[string]string{AnnotationIsolation: "hypervisor"}}, IsolationHypervisor},
	}
	asks := []struct {
		value string
		iso   Isolation // 0: no annotation
	}{{"", 0}, {"process", IsolationProcess}, {" Process", IsolationProcess}, {"hypervisor", IsolationHypervisor}, {"HYPERVISOR", IsolationHypervisor}}
	for _, h := range handlers {
		for _, a := range asks {
			t.Run(fmt.Sprintf("%s/%q", h.name, a.value), func(t *testing.T) {
				ann := map[string]string{}
				if a.iso != 0 {
					ann[AnnotationIsolation] = a.value
				}
				cfg, err := Resolve(h.opts, ann)
				switch {
				case a.iso != 0 && a.iso < h.floor:
					if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), AnnotationIsolation) ||
						!strings.Contains(err.Error(), "below the hypervisor isolation") {
						t.Fatalf("got %v, %v; want a refusal naming the annotation and the handler's isolation", cfg, err)
					}
				case err != nil:
					t.Fatal(err)
				case a.iso == 0 && cfg.Isolation != h.floor, a.iso != 0 && cfg.Isolation != a.iso:
					t.Fatalf("isolation %s", cfg.Isolation)
				}
			})
		}
	}
}

// TestAllowedAnnotations runs every annotation winctr reads through the
// default allow-list, an operator's list, and an empty one.
func TestAllowedAnnotations(t *testing.T) {
	values := map[string]string{
		AnnotationIsolation: "hypervisor", AnnotationPlatform: "linux", AnnotationProcessorCount: "2",
		AnnotationMemoryMB: "256", AnnotationBootFiles: "/opt/lcow", AnnotationAgentTimeout: "30",
		HCSAnnotationProcessorCount: "2", HCSAnnotationMemoryMB: "256", HCSAnnotationBootFiles: "/opt/lcow",
	}
	sizes := map[string]bool{AnnotationProcessorCount: true, AnnotationMemoryMB: true, HCSAnnotationProcessorCount: true, HCSAnnotationMemoryMB: true}
	lists := []struct {
		name    string
		list    *optionsv1.StringList
		allowed func(key string) bool
	}{
		{"default", nil, func(k string) bool { return sizes[k] }},
		{"empty", &optionsv1.StringList{}, func(string) bool { return false }},
		{"winctr's keys", &optionsv1.StringList{Values: []string{"io.winctr.*"}}, func(k string) bool { return strings.HasPrefix(k, "io.winctr.") }},
		{"one key", &optionsv1.StringList{Values: []string{HCSAnnotationBootFiles}}, func(k string) bool { return k == HCSAnnotationBootFiles }},
	}
	for _, l := range lists {
		for key, v := range values {
			t.Run(l.name+"/"+key, func(t *testing.T) {
				o := &optionsv1.Options{AllowedAnnotations: l.list, BootFilesRootPath: "/opt/lcow"}
				_, err := Resolve(o, map[string]string{key: v})
				if l.allowed(key) {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "allowed_annotations") {
					t.Fatalf("got %v, want a refusal naming %s and allowed_annotations", err, key)
				}
			})
		}
	}
	t.Run("unknown winctr key", func(t *testing.T) {
		_, err := Resolve(&optionsv1.Options{AllowedAnnotations: &optionsv1.StringList{Values: []string{"*"}}}, map[string]string{"io.winctr.vm.memroy-mb": "512"})
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "io.winctr.vm.memroy-mb") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("other keys pass", func(t *testing.T) {
		if _, err := Resolve(nil, map[string]string{"io.kubernetes.pod.name": "x", "io.microsoft.virtualmachine.fullyphysicallybacked": "true"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("operator's default annotations need no listing", func(t *testing.T) {
		o := &optionsv1.Options{AllowedAnnotations: &optionsv1.StringList{}, DefaultContainerAnnotations: map[string]string{AnnotationAgentTimeout: "9", AnnotationBootFiles: "/anywhere"}}
		cfg, err := Resolve(o, nil)
		if err != nil || cfg.BootFilesRootPath != "/anywhere" {
			t.Fatalf("got %+v, %v", cfg, err)
		}
	})
}

// TestValidBootFilesPaths holds a pod's boot files to the directories the
// options permit.
func TestValidBootFilesPaths(t *testing.T) {
	allow := &optionsv1.StringList{Values: []string{AnnotationBootFiles, HCSAnnotationBootFiles}}
	tests := []struct {
		name  string
		root  string
		valid *optionsv1.StringList
		path  string
		ok    bool
	}{
		{"the configured boot files", "/opt/lcow", nil, "/opt/lcow", true},
		{"the configured boot files, trailing slash", "/opt/lcow", nil, "/opt/lcow/", true},
		{"elsewhere by default", "/opt/lcow", nil, "/tmp/evil", false},
		{"nothing configured, nothing permitted", "", nil, "/opt/lcow", false},
		{"below a permitted directory", "", &optionsv1.StringList{Values: []string{"/srv/boot"}}, "/srv/boot/v2", true},
		{"a sibling with the same prefix", "", &optionsv1.StringList{Values: []string{"/srv/boot"}}, "/srv/bootleg", false},
		{"climbing out with ..", "", &optionsv1.StringList{Values: []string{"/srv/boot"}}, "/srv/boot/../../etc", false},
		{"relative", "", &optionsv1.StringList{Values: []string{"/srv/boot"}}, "srv/boot", false},
		{"the list replaces the configured path", "/opt/lcow", &optionsv1.StringList{Values: []string{"/srv/boot"}}, "/opt/lcow", false},
		{"an empty list permits none", "/opt/lcow", &optionsv1.StringList{}, "/opt/lcow", false},
	}
	for _, tt := range tests {
		for _, key := range allow.Values {
			t.Run(tt.name+"/"+key, func(t *testing.T) {
				o := &optionsv1.Options{AllowedAnnotations: allow, BootFilesRootPath: tt.root, ValidBootFilesPaths: tt.valid}
				cfg, err := Resolve(o, map[string]string{key: tt.path})
				if tt.ok {
					if err != nil || cfg.BootFilesRootPath != tt.path {
						t.Fatalf("got %+v, %v", cfg, err)
					}
					return
				}
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "valid_boot_files_paths") || !strings.Contains(err.Error(), key) {
					t.Fatalf("got %v, want a refusal naming %s and valid_boot_files_paths", err, key)
				}
			})
		}
	}
}
