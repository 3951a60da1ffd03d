package options

import (
	"path"
	"path/filepath"
	"slices"
	"strings"

	optionsv1 "github.com/winctr/winctr/protos/options/v1"
)

// A spec's annotations come from whoever may create a pod or a container,
// the runtime's options from the node's operator. What a pod may choose is
// therefore the operator's choice too: the isolation the options name is a
// floor, only the annotation keys the options allow are taken, and a boot
// files path must lie in a directory the options permit. Anything else is
// refused, naming the option that would allow it, rather than ignored: a
// pod that silently got something else than it asked for is as hard to
// debug as one that got more than it should.

// DefaultAllowedAnnotations are the keys a pod may set when the options
// do not say: the VM's size, which annotations exist to choose per pod and
// which Resolve caps.
var DefaultAllowedAnnotations = []string{
	AnnotationProcessorCount, AnnotationMemoryMB,
	HCSAnnotationProcessorCount, HCSAnnotationMemoryMB,
}

// knownAnnotations are the keys Resolve reads; any other key under
// winctrPrefix is a misspelling and refused.
var knownAnnotations = map[string]bool{
	AnnotationIsolation: true, AnnotationPlatform: true, AnnotationProcessorCount: true,
	AnnotationMemoryMB: true, AnnotationBootFiles: true, AnnotationAgentTimeout: true,
	HCSAnnotationProcessorCount: true, HCSAnnotationMemoryMB: true, HCSAnnotationBootFiles: true,
}

const winctrPrefix = "io.winctr."

// floor is an isolation below which a container may not run, and why.
type floor struct {
	isolation Isolation
	reason    string
}

// checkAllowed refuses every key of the untrusted annotations that winctr
// reads and the options do not allow, and a boot files path outside the
// permitted directories.
func checkAllowed(o *optionsv1.Options, untrusted map[string]string) error {
	allowed := DefaultAllowedAnnotations
	if l := o.GetAllowedAnnotations(); l != nil {
		allowed = l.GetValues()
	}
	for _, k := range sortedKeys(untrusted) {
		if !knownAnnotations[k] {
			if strings.HasPrefix(k, winctrPrefix) {
				return invalid("annotation %q is not one winctr knows", k)
			}
			continue
		}
		if !matchesAny(allowed, k) {
			return invalid("annotation %q is not allowed for pods by this runtime: its options' allowed_annotations would have to list it", k)
		}
	}
	if v, key, ok := firstAnnotation(untrusted, AnnotationBootFiles, HCSAnnotationBootFiles); ok {
		valid := []string{o.GetBootFilesRootPath()}
		if l := o.GetValidBootFilesPaths(); l != nil {
			valid = l.GetValues()
		}
		if !pathWithin(v, valid) {
			return invalid("annotation %q: %q is not in a directory the runtime's options permit: its options' valid_boot_files_paths would have to list it", key, v)
		}
	}
	return nil
}

// resolveIsolation returns the isolation the options, the operator's
// default annotations and the floor ask for, raised, never lowered, by
// the untrusted annotation.
func resolveIsolation(o *optionsv1.Options, untrusted map[string]string, fl floor) (Isolation, error) {
	iso := IsolationProcess
	reason := "the runtime's isolation"
	switch o.GetIsolation() {
	case optionsv1.Options_ISOLATION_UNSPECIFIED, optionsv1.Options_ISOLATION_PROCESS:
	case optionsv1.Options_ISOLATION_HYPERVISOR:
		iso, reason = IsolationHypervisor, `the runtime's options (isolation = "hypervisor")`
	default:
		return 0, invalid("field \"isolation\": unknown value %d", int32(o.GetIsolation()))
	}
	if v, ok := o.GetDefaultContainerAnnotations()[AnnotationIsolation]; ok {
		d, err := parseIsolationAnnotation("default_container_annotations: "+AnnotationIsolation, v)
		if err != nil {
			return 0, err
		}
		if d > iso {
			iso, reason = d, "the runtime's default_container_annotations"
		}
	}
	if fl.isolation > iso {
		iso, reason = fl.isolation, fl.reason
	}
	v, ok := untrusted[AnnotationIsolation]
	if !ok {
		return iso, nil
	}
	asked, err := parseIsolationAnnotation(AnnotationIsolation, v)
	if err != nil {
		return 0, err
	}
	if asked < iso {
		return 0, invalid("annotation %q asks for %s isolation, below the %s isolation of %s; a pod may raise isolation, never lower it", AnnotationIsolation, asked, iso, reason)
	}
	return asked, nil
}

func parseIsolationAnnotation(field, v string) (Isolation, error) {
	p, err := parseIsolation(field, v)
	if err != nil {
		return 0, err
	}
	if p == optionsv1.Options_ISOLATION_HYPERVISOR {
		return IsolationHypervisor, nil
	}
	return IsolationProcess, nil
}

func matchesAny(patterns []string, key string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, key); ok {
			return true
		}
	}
	return false
}

// pathWithin reports whether p, an absolute path, is one of dirs or lies
// below one of them, after cleaning (so that ".." cannot climb out).
func pathWithin(p string, dirs []string) bool {
	if !filepath.IsAbs(p) {
		return false
	}
	p = filepath.Clean(p)
	for _, d := range dirs {
		if d == "" || !filepath.IsAbs(d) {
			continue
		}
		d = filepath.Clean(d)
		if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, string(filepath.Separator))+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// sortedKeys makes the first refusal the same on every run.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
