package options

import (
	"testing"

	"github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/typeurl/v2"
)

// FuzzDecodeAndResolve feeds arbitrary TOML and annotation values through
// the whole path containerd's input takes; it must never panic.
func FuzzDecodeAndResolve(f *testing.F) {
	f.Add([]byte("isolation = \"process\"\n"), "hypervisor", "512")
	f.Add([]byte("vm_processor_count = 2\n[default_container_annotations]\nx = \"y\"\n"), "", "-1")
	f.Fuzz(func(t *testing.T, body []byte, isolation, memory string) {
		a, err := typeurl.MarshalAnyToProto(&runtimeoptions.Options{ConfigBody: body})
		if err != nil {
			t.Skip()
		}
		o, err := Decode(a)
		if err != nil {
			return
		}
		ann := WithDefaultAnnotations(o, map[string]string{
			AnnotationIsolation:   isolation,
			HCSAnnotationMemoryMB: memory,
		})
		_, _ = Resolve(o, ann)
	})
}
