package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/proto"
)

func TestLegacyOrBootstrap(t *testing.T) {
	flags := legacyFlags{namespace: "ns", id: "t1", address: "/run/c.sock", action: "start"}
	boot, err := proto.Marshal(&bootapi.BootstrapParams{InstanceID: "t1", Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	otherBoot, err := proto.Marshal(&bootapi.BootstrapParams{InstanceID: "t2", Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := typeurl.MarshalAnyToProto(&runtimeoptions.Options{ConfigPath: "/etc/winctr.toml"})
	if err != nil {
		t.Fatal(err)
	}
	optsBytes, err := proto.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		input     []byte
		bootstrap bool
	}{
		{"new protocol", boot, true},
		{"other task's params", otherBoot, false},
		{"legacy without options", nil, false},
		{"legacy with options", optsBytes, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isBootstrap(tt.input, flags); got != tt.bootstrap {
				t.Fatalf("isBootstrap = %v, want %v", got, tt.bootstrap)
			}
		})
	}

	b, err := legacyParams(optsBytes, flags)
	if err != nil {
		t.Fatal(err)
	}
	var p bootapi.BootstrapParams
	if err := proto.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.InstanceID != "t1" || p.Namespace != "ns" || p.ContainerdGrpcAddress != "/run/c.sock" {
		t.Fatalf("params %+v", &p)
	}
	var ro runtimeoptions.Options
	found, err := p.FindExtension(&ro)
	if err != nil || !found || ro.ConfigPath != "/etc/winctr.toml" {
		t.Fatalf("options extension: found=%v err=%v %+v", found, err, &ro)
	}
	if !isBootstrap(b, flags) {
		t.Fatal("translated params must pass as the new protocol")
	}
}

func TestLegacyResultIsJSON(t *testing.T) {
	out, err := proto.Marshal(&bootapi.BootstrapResult{Version: 3, Protocol: "ttrpc", Address: "unix:///s/abc"})
	if err != nil {
		t.Fatal(err)
	}
	j, err := legacyResult(out)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(j, &got); err != nil {
		t.Fatal(err)
	}
	if got["version"] != float64(3) || got["address"] != "unix:///s/abc" || got["protocol"] != "ttrpc" {
		t.Fatalf("result %s", j)
	}
}

func TestParseLegacyFlags(t *testing.T) {
	f, err := parseLegacyFlags([]string{"-namespace", "k8s.io", "-address", "/a.sock", "-publish-binary", "/bin/containerd", "-id", "x", "-debug", "start"})
	if err != nil {
		t.Fatal(err)
	}
	if f.namespace != "k8s.io" || f.id != "x" || f.address != "/a.sock" || !f.debug || f.action != "start" {
		t.Fatalf("flags %+v", f)
	}
}

func TestGroupingKey(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want string
	}{
		{"standalone task", `{"annotations":{}}`, "task1"},
		{"pod container", `{"annotations":{"io.kubernetes.cri.sandbox-id":"pod9"}}`, "pod9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tt.spec), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := groupingKey(dir, "task1")
			if err != nil || got != tt.want {
				t.Fatalf("groupingKey = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	// A sandbox of the Sandbox API comes with no spec: its own group.
	if got, err := groupingKey(t.TempDir(), "sb1"); err != nil || got != "sb1" {
		t.Fatalf("groupingKey without a spec = %q, %v; want the id", got, err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "config.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := groupingKey(bad, "x"); err == nil {
		t.Fatal("a malformed spec must be an error")
	}
}
