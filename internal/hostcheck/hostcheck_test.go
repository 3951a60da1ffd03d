package hostcheck

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/winctr/winctr/internal/bootmanifest"
)

// fakeEnv is a host made of maps.
type fakeEnv struct {
	paths   map[string]string // LookPath: name -> path
	outputs map[string]string // "path arg..." -> stdout
	files   map[string]string // Stat and the manifest's content
	// portForward is ProbePortForward's answer.
	portForward error
	rw          map[string]bool
	euid        int
}

var errNope = errors.New("no such file")

func (f *fakeEnv) LookPath(n string) (string, error) {
	if p, ok := f.paths[n]; ok {
		return p, nil
	}
	return "", errNope
}

func (f *fakeEnv) Output(name string, args ...string) ([]byte, error) {
	out, ok := f.outputs[strings.Join(append([]string{name}, args...), " ")]
	if !ok {
		return nil, fmt.Errorf("%s: exit status 1", name)
	}
	return []byte(out), nil
}

type fakeInfo struct{ name string }

func (i fakeInfo) Name() string       { return i.name }
func (i fakeInfo) Size() int64        { return 0 }
func (i fakeInfo) Mode() fs.FileMode  { return 0o644 }
func (i fakeInfo) ModTime() time.Time { return time.Time{} }
func (i fakeInfo) IsDir() bool        { return false }
func (i fakeInfo) Sys() any           { return nil }

func (f *fakeEnv) Stat(p string) (fs.FileInfo, error) {
	if _, ok := f.files[p]; ok {
		return fakeInfo{p}, nil
	}
	return nil, errNope
}

func (f *fakeEnv) CanOpenRW(p string) error {
	if f.rw[p] {
		return nil
	}
	return errNope
}

func (f *fakeEnv) Geteuid() int { return f.euid }

func (f *fakeEnv) ProbePortForward() error { return f.portForward }

// goodHost is this project's machine: Debian 12 without KVM or vsock.
func goodHost(t *testing.T) (*fakeEnv, Config) {
	dir := t.TempDir()
	writeBootFiles(t, dir, 1)
	env := &fakeEnv{
		paths: map[string]string{
			"containerd": "/usr/local/bin/containerd", "runc": "/usr/sbin/runc", "qemu-system-x86_64": "/usr/bin/qemu-system-x86_64",
			"/usr/lib/qemu/virtiofsd": "/usr/lib/qemu/virtiofsd", "containerd-shim-winctr-v1": "/usr/local/bin/containerd-shim-winctr-v1",
		},
		outputs: map[string]string{
			"/usr/local/bin/containerd --version":   "containerd github.com/containerd/containerd/v2 v2.4.2 abc\n",
			"/usr/sbin/runc --version":              "runc version 1.1.5+ds1\ncommit: ...\n",
			"/usr/bin/qemu-system-x86_64 --version": "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n",
		},
		files: map[string]string{"/sys/fs/cgroup/memory": "", "/usr/lib/cni/bridge": "", "/usr/lib/cni/host-local": "",
			"/usr/lib/cni/loopback": "", "/usr/lib/cni/portmap": ""},
		rw: map[string]bool{},
	}
	for _, f := range []string{bootmanifest.KernelFile, bootmanifest.InitrdFile, bootmanifest.File} {
		env.files[dir+"/"+f] = ""
	}
	return env, Config{Shim: "containerd-shim-winctr-v1", BootFiles: dir, AgentProtocol: 1,
		VirtiofsdCandidates: []string{"/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd"}, CNIDirs: []string{"/opt/cni/bin", "/usr/lib/cni"}}
}

func writeBootFiles(t *testing.T, dir string, protocol int) {
	t.Helper()
	if err := bootmanifest.Write(dir, bootmanifest.Manifest{AgentProtocol: protocol, AgentVersion: "test", KernelRelease: "6.1.0-1-cloud-amd64"}); err != nil {
		t.Fatal(err)
	}
}

func statuses(rs []Result) map[string]Status {
	m := map[string]Status{}
	for _, r := range rs {
		m[r.Name] = r.Status
	}
	return m
}

func TestRun(t *testing.T) {
	tests := []struct {
		name   string
		change func(*fakeEnv, *Config)
		want   map[string]Status // the results that differ from the good host's
		detail string            // in the changed result's detail or fix
	}{
		{"this machine: TCG is a warning, the rest passes", func(*fakeEnv, *Config) {}, nil, ""},
		{"kvm", func(e *fakeEnv, _ *Config) { e.rw["/dev/kvm"] = true }, map[string]Status{"kvm": OK}, ""},
		{"no boot files", func(e *fakeEnv, c *Config) {
			delete(e.files, c.BootFiles+"/"+bootmanifest.InitrdFile)
			delete(e.files, c.BootFiles+"/"+bootmanifest.KernelFile)
		}, map[string]Status{"boot files": Fail}, "initrd.img"},
		{"boot files of another protocol", func(e *fakeEnv, c *Config) { c.AgentProtocol = 2 }, map[string]Status{"boot files": Fail}, "make bootfiles"},
		{"containerd 1.7", func(e *fakeEnv, _ *Config) {
			e.outputs["/usr/local/bin/containerd --version"] = "containerd github.com/containerd/containerd v1.7.24 x\n"
		}, map[string]Status{"containerd": Fail}, "2.0"},
		{"no containerd", func(e *fakeEnv, _ *Config) { delete(e.paths, "containerd") }, map[string]Status{"containerd": Fail}, "--containerd"},
		{"no runc", func(e *fakeEnv, _ *Config) { delete(e.paths, "runc") }, map[string]Status{"runc": Fail}, "runc_binary"},
		{"no qemu", func(e *fakeEnv, _ *Config) { delete(e.paths, "qemu-system-x86_64") }, map[string]Status{"qemu": Fail}, "qemu_binary"},
		{"old qemu", func(e *fakeEnv, _ *Config) {
			e.outputs["/usr/bin/qemu-system-x86_64 --version"] = "QEMU emulator version 5.2.0\n"
		}, map[string]Status{"qemu": Warn}, ""},
		{"virtiofsd in libexec", func(e *fakeEnv, _ *Config) {
			delete(e.paths, "/usr/lib/qemu/virtiofsd")
			e.paths["/usr/libexec/virtiofsd"] = "/usr/libexec/virtiofsd"
		}, nil, ""},
		{"no virtiofsd", func(e *fakeEnv, _ *Config) { delete(e.paths, "/usr/lib/qemu/virtiofsd") }, map[string]Status{"virtiofsd": Fail}, "virtiofsd_binary"},
		{"no cni", func(e *fakeEnv, _ *Config) { delete(e.files, "/usr/lib/cni/bridge") }, map[string]Status{"cni plugins": Warn}, "containernetworking-plugins"},
		{"shim not installed", func(e *fakeEnv, _ *Config) { delete(e.paths, "containerd-shim-winctr-v1") }, map[string]Status{"shim": Fail}, "make install"},
		{"not root", func(e *fakeEnv, _ *Config) { e.euid = 1000 }, map[string]Status{"root": Warn}, ""},
		{"no nft redirect", func(e *fakeEnv, _ *Config) { e.portForward = errors.New("nftables: operation not supported") },
			map[string]Status{"port-forward": Warn}, "operation not supported"},
		{"no cgroups", func(e *fakeEnv, _ *Config) { delete(e.files, "/sys/fs/cgroup/memory") }, map[string]Status{"cgroups": Fail}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, cfg := goodHost(t)
			tc.change(env, &cfg)
			rs := Run(env, cfg)
			want := map[string]Status{"root": OK, "containerd": OK, "shim": OK, "cgroups": OK, "runc": OK, "qemu": OK, "kvm": Warn,
				"vhost-vsock": OK, "virtiofsd": OK, "boot files": OK, "cni plugins": OK, "port-forward": OK}
			for k, v := range tc.want {
				want[k] = v
			}
			got := statuses(rs)
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: %s, want %s (%+v)", k, got[k], v, rs)
				}
			}
			failed := false
			for _, v := range want {
				failed = failed || v == Fail
			}
			if Failed(rs) != failed {
				t.Errorf("Failed = %v, want %v", Failed(rs), failed)
			}
			for _, r := range rs {
				if r.Status != OK && r.Fix == "" {
					t.Errorf("%s is %s without a fix", r.Name, r.Status)
				}
				if _, changed := tc.want[r.Name]; changed && tc.detail != "" && !strings.Contains(r.Detail+r.Fix, tc.detail) {
					t.Errorf("%s: %q / %q lacks %q", r.Name, r.Detail, r.Fix, tc.detail)
				}
			}
		})
	}
}
