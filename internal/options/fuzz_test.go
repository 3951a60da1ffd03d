package options

import (
	"testing"

	"github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/typeurl/v2"

	optionsv1 "github.com/winctr/winctr/protos/options/v1"
)

// FuzzDecodeAndResolve feeds arbitrary TOML and annotation values through
// the whole path containerd's input takes. It must never panic, and no
// input may yield a lower isolation than the operator's options and
// default annotations ask for, nor a boot files path from a pod outside
// the permitted directories.
func FuzzDecodeAndResolve(f *testing.F) {
	f.Add([]byte("isolation = \"process\"\n"), "hypervisor", "512", "")
	f.Add([]byte("vm_processor_count = 2\n[default_container_annotations]\nx = \"y\"\n"), "", "-1", "")
	f.Add([]byte("isolation = \"hypervisor\"\nallowed_annotations = [\"io.winctr.*\"]\n"), "process", "", "/x")
	f.Add([]byte("allowed_annotations = [\"*\"]\n[default_container_annotations]\n\"io.winctr.isolation\" = \"hypervisor\"\n"), "Process ", "", "")
	f.Add([]byte("allowed_annotations = [\"*\"]\nvalid_boot_files_paths = [\"/opt/lcow\"]\n"), "", "", "/opt/lcow/../../etc")
	f.Fuzz(func(t *testing.T, body []byte, isolation, memory, bootFiles string) {
		a, err := typeurl.MarshalAnyToProto(&runtimeoptions.Options{ConfigBody: body})
		if err != nil {
			t.Skip()
		}
		o, err := Decode(a)
		if err != nil {
			return
		}
		ann := map[string]string{AnnotationIsolation: isolation, HCSAnnotationMemoryMB: memory}
		if bootFiles != "" {
			ann[AnnotationBootFiles] = bootFiles
		}
		cfg, err := Resolve(o, ann)
		if err != nil {
			return
		}
		if o.GetIsolation() == optionsv1.Options_ISOLATION_HYPERVISOR && cfg.Isolation != IsolationHypervisor {
			t.Fatalf("options ask for hypervisor isolation, annotation %q got %s", isolation, cfg.Isolation)
		}
		if d, ok := o.GetDefaultContainerAnnotations()[AnnotationIsolation]; ok {
			if want, _ := parseIsolationAnnotation("", d); cfg.Isolation < want {
				t.Fatalf("default annotations ask for %s isolation, annotation %q got %s", want, isolation, cfg.Isolation)
			}
		}
		if bootFiles != "" {
			valid := []string{o.GetBootFilesRootPath()}
			if l := o.GetValidBootFilesPaths(); l != nil {
				valid = l.GetValues()
			}
			if !pathWithin(cfg.BootFilesRootPath, valid) {
				t.Fatalf("boot files %q from a pod, permitted %q", cfg.BootFilesRootPath, valid)
			}
		}
	})
}
