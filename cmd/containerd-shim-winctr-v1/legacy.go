package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// containerd 2.0-2.2 start a shim with flags and environment, pass the
// runtime options on stdin as a marshalled Any, and read back the address as
// JSON. containerd 2.3+ send BootstrapParams on stdin and read a
// BootstrapResult. containerd's shim package speaks only the new protocol,
// so adaptLegacyStart translates the old one around it.

// legacyFlags are the flags old containerd passes to `start`; the values
// must agree with what the shim package parses.
type legacyFlags struct {
	namespace, id, address string
	debug                  bool
	action                 string
}

func parseLegacyFlags(args []string) (legacyFlags, error) {
	var f legacyFlags
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.namespace, "namespace", "", "")
	fs.StringVar(&f.id, "id", "", "")
	fs.StringVar(&f.address, "address", "", "")
	fs.BoolVar(&f.debug, "debug", false, "")
	for _, name := range []string{"socket", "debug-socket", "bundle", "publish-binary"} {
		fs.String(name, "", "")
	}
	for _, name := range []string{"v", "version", "info"} {
		fs.Bool(name, false, "")
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	f.action = fs.Arg(0)
	return f, nil
}

// isBootstrap tells the new protocol's stdin from the old one's: an old
// options Any can also decode as BootstrapParams, so the identity must match.
func isBootstrap(input []byte, f legacyFlags) bool {
	if len(input) == 0 {
		return false
	}
	var p bootapi.BootstrapParams
	if err := proto.Unmarshal(input, &p); err != nil {
		return false
	}
	return p.InstanceID == f.id && p.Namespace == f.namespace
}

// legacyParams builds the BootstrapParams that old containerd would have sent.
func legacyParams(input []byte, f legacyFlags) ([]byte, error) {
	p := &bootapi.BootstrapParams{
		InstanceID:             f.id,
		Namespace:              f.namespace,
		ContainerdGrpcAddress:  f.address,
		ContainerdTtrpcAddress: os.Getenv("TTRPC_ADDRESS"),
	}
	if f.debug {
		p.LogLevel = bootapi.LogLevel_LOG_LEVEL_DEBUG
	}
	if len(input) > 0 {
		a, err := unmarshalAny(input)
		if err != nil {
			return nil, fmt.Errorf("runtime options on stdin: %w", err)
		}
		p.Extensions = append(p.Extensions, &bootapi.Extension{Value: a})
	}
	return proto.Marshal(p)
}

func unmarshalAny(b []byte) (*anypb.Any, error) {
	a := &anypb.Any{}
	if err := proto.Unmarshal(b, a); err != nil {
		return nil, fmt.Errorf("decode options: %w", err)
	}
	return a, nil
}

// legacyResult turns the BootstrapResult the shim package printed into the
// JSON old containerd reads.
func legacyResult(out []byte) ([]byte, error) {
	var r bootapi.BootstrapResult
	if err := proto.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("decode bootstrap result: %w", err)
	}
	return json.Marshal(struct {
		Version  int32  `json:"version"`
		Address  string `json:"address"`
		Protocol string `json:"protocol"`
	}{r.Version, r.Address, r.Protocol})
}

// adaptLegacyStart prepares the process for the shim package: for an old
// containerd's `start` it feeds translated stdin and captures stdout; the
// returned finish writes the translated answer. For anything else it only
// replays stdin unchanged and finish does nothing.
func adaptLegacyStart(args []string) (finish func() error, err error) {
	nothing := func() error { return nil }
	f, err := parseLegacyFlags(args)
	if err != nil || f.action != "start" {
		// Let the shim package report flag errors its own way.
		return nothing, nil
	}
	input, err := io.ReadAll(io.LimitReader(os.Stdin, 10<<20))
	if err != nil {
		return nil, fmt.Errorf("read stdin: %w", err)
	}
	legacy := !isBootstrap(input, f)
	if legacy {
		if input, err = legacyParams(input, f); err != nil {
			return nil, err
		}
	}
	if err := replaceStdin(input); err != nil {
		return nil, err
	}
	if !legacy {
		return nothing, nil
	}
	realStdout := os.Stdout
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	os.Stdout = w
	captured := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, r)
		captured <- buf.Bytes()
	}()
	return func() error {
		w.Close()
		os.Stdout = realStdout
		out, err := legacyResult(<-captured)
		if err != nil {
			return err
		}
		_, err = realStdout.Write(out)
		return err
	}, nil
}

// replaceStdin makes os.Stdin read b, as if containerd had written it.
func replaceStdin(b []byte) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	go func() {
		_, _ = w.Write(b)
		w.Close()
	}()
	old := os.Stdin
	os.Stdin = r
	if old != nil {
		_ = old.Close()
	}
	return nil
}
