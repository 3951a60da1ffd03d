package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/winctr/winctr/internal/containerhost"
	"github.com/winctr/winctr/internal/options"
	"github.com/winctr/winctr/internal/version"
	optionsv1 "github.com/winctr/winctr/protos/options/v1"
)

// manager implements containerd's shim bootstrap: start, delete and info.
type manager struct {
	name string
}

func newManager(name string) shim.Shim { return &manager{name: name} }

// Name returns the runtime type.
func (m *manager) Name() string { return m.name }

// groupingKey is the pod's sandbox id for a CRI container, else the task id:
// one shim serves one pod. start runs in the bundle, so bundle is "." there.
func groupingKey(bundle, id string) (string, error) {
	spec, err := readSpec(bundle)
	if err != nil {
		return "", err
	}
	return groupOf(spec, id), nil
}

// readSpec reads the bundle's spec; nil for a sandbox of the Sandbox API,
// which has none.
func readSpec(bundle string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("decode spec: %w", err)
	}
	return &spec, nil
}

// groupOf is groupingKey for a spec read already (nil: no spec).
func groupOf(spec *specs.Spec, id string) string {
	if spec != nil {
		if g := spec.Annotations[containerhost.AnnotationSandboxID]; g != "" {
			return g
		}
	}
	return id
}

// serverCommand is the long-lived shim process that start launches.
func serverCommand(ctx context.Context, id, grpcAddress string, debug bool, extra ...string) (*exec.Cmd, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	args := []string{"-namespace", ns, "-id", id, "-address", grpcAddress}
	if debug {
		args = append(args, "-debug")
	}
	args = append(args, extra...)
	cmd := exec.Command(self, args...)
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2", "OTEL_SERVICE_NAME=containerd-shim-winctr-"+id)
	cmd.SysProcAttr = detachedProcAttr()
	return cmd, nil
}

// Stop is the `delete` action: containerd calls it when the shim of task id
// is gone. It cleans up from the bundle (the working directory) alone and
// reports the task as killed.
func (m *manager) Stop(ctx context.Context, id string) (shim.StopStatus, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return shim.StopStatus{}, err
	}
	bundle, err := os.Getwd()
	if err != nil {
		return shim.StopStatus{}, err
	}
	removeDeadSocket(ctx, bundle)
	removeStaleDebugSockets()
	pid, err := cleanupTask(ctx, bundle, ns, id)
	if err != nil {
		// containerd goes on removing the task either way; say what was left.
		log.G(ctx).WithError(err).WithField("task", id).Warn("cleanup after shim exit")
	}
	return shim.StopStatus{
		Pid:        pid,
		ExitStatus: 128 + int(syscall.SIGKILL),
		ExitedAt:   time.Now(),
	}, nil
}

// Info reports the runtime's name and version and echoes the options.
func (m *manager) Info(ctx context.Context, optionsR io.Reader) (*types.RuntimeInfo, error) {
	info := &types.RuntimeInfo{
		Name:    m.name,
		Version: &types.RuntimeVersion{Version: version.Version, Revision: version.Revision},
	}
	b, err := io.ReadAll(io.LimitReader(optionsR, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read options: %w", err)
	}
	opts := &optionsv1.Options{}
	if len(b) > 0 {
		a, err := unmarshalAny(b)
		if err != nil {
			return nil, err
		}
		if opts, err = options.Decode(a); err != nil {
			return nil, err
		}
		info.Options = a
	}
	if info.Features, err = runtimeFeatures(ctx, opts); err != nil {
		return nil, err
	}
	return info, nil
}

// optionsFromStart are the runtime options containerd passed to start:
// decoded, and as the Any that shims read back from a file.
type optionsFromStart struct {
	opts *optionsv1.Options
	any  *anypb.Any
}

// runtimeOptions finds winctr's options among start's extensions; nil
// when containerd passed none.
func runtimeOptions(params *bootapi.BootstrapParams) (*optionsFromStart, error) {
	for _, ext := range params.GetExtensions() {
		o, err := options.Decode(ext.GetValue())
		if err != nil {
			continue
		}
		return &optionsFromStart{opts: o, any: ext.GetValue()}, nil
	}
	return nil, nil
}

// saveRuntimeOptions keeps in the bundle the runtime options containerd
// passed to start: a sandbox of the Sandbox API gets them nowhere else.
func saveRuntimeOptions(bundle string, o *optionsFromStart) error {
	if o == nil {
		return nil
	}
	return options.Save(bundle, o.any)
}
