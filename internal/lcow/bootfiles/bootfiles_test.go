package bootfiles

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"

	"github.com/winctr/winctr/internal/bootmanifest"
	"github.com/winctr/winctr/internal/uvm"
)

func TestResolveModulesOrdersDependenciesFirst(t *testing.T) {
	dep := filepath.Join(t.TempDir(), "modules.dep")
	body := `kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/fs/fuse/virtiofs.ko: kernel/fs/fuse/fuse.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/fs/fuse/fuse.ko:
kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
`
	if err := os.WriteFile(dep, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		want    []string
		wantErr string
	}{
		{"virtio_pci", []string{"virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio", "virtio_ring", "virtio_pci"}, ""},
		{"virtiofs", []string{"fuse", "virtio", "virtio_ring", "virtiofs"}, ""},
		{"virtio-console", []string{"virtio", "virtio_ring", "virtio_console"}, ""},
		{"nope", nil, "module nope is not in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveModules(dep, []string{tt.name})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range got {
				names = append(names, moduleName(f))
			}
			// Every module must come after all of its dependencies.
			pos := map[string]int{}
			for i, n := range names {
				pos[n] = i
			}
			if len(names) != len(tt.want) {
				t.Fatalf("got %v, want the set %v", names, tt.want)
			}
			for _, w := range tt.want {
				if _, ok := pos[w]; !ok {
					t.Fatalf("got %v, missing %s", names, w)
				}
			}
			if pos[moduleName(tt.name)] != len(names)-1 {
				t.Fatalf("got %v: %s is not last", names, tt.name)
			}
		})
	}
	// Shared dependencies appear once.
	got, err := ResolveModules(dep, []string{"virtio_pci", "virtiofs", "virtio_console"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range got {
		if seen[f] {
			t.Fatalf("%s listed twice: %v", f, got)
		}
		seen[f] = true
	}
}

// A kernel with drivers built in lists them in modules.builtin: they need
// no file, and what they would have pulled in is not asked for either.
func TestResolveModulesLeavesOutBuiltin(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"modules.dep": "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko\n" +
			"kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko:\n",
		"modules.builtin": "kernel/fs/overlayfs/overlay.ko\nkernel/drivers/virtio/virtio_pci.ko\nkernel/fs/fuse/virtiofs.ko\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dep := filepath.Join(dir, "modules.dep")
	tests := []struct {
		names   []string
		want    []string
		wantErr bool
	}{
		{[]string{"overlay", "virtiofs", "virtio-pci"}, nil, false},
		{[]string{"overlay", "vmw_vsock_virtio_transport"}, []string{"kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko", "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko"}, false},
		{[]string{"overlay", "nope"}, nil, true},
	}
	for _, tt := range tests {
		got, err := ResolveModules(dep, tt.names)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("%v: %q, %v; want %q (error: %v)", tt.names, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestWithLibrariesFindsLoaderAndLibc(t *testing.T) {
	// The test binary's own toolchain is not dynamic; /bin/ls is on
	// every Debian machine and links libc through the loader.
	files, err := WithLibraries("/", "/bin/ls")
	if err != nil {
		t.Skip(err)
	}
	joined := strings.Join(files, " ")
	for _, want := range []string{"/bin/ls", "ld-linux", "libc.so"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("%v lacks %s", files, want)
		}
	}
}

func TestRuntimeGoesToRuntimePath(t *testing.T) {
	if files, err := runtimeFiles("/", NoRuntime); err != nil || files != nil {
		t.Errorf("NoRuntime: got %v, %v; want nothing", files, err)
	}
	// /bin/ls stands for a dynamically linked crun.
	files, err := runtimeFiles("/", "/bin/ls")
	if err != nil {
		t.Skip(err)
	}
	if files[0] != (guestFile{host: "/bin/ls", guest: RuntimePath}) {
		t.Errorf("first file %+v; want /bin/ls at %s", files[0], RuntimePath)
	}
	if len(files) < 2 {
		t.Fatalf("%v: no loader or libraries", files)
	}
	for _, f := range files[1:] {
		if f.host != f.guest || !strings.Contains(f.guest, ".so") {
			t.Errorf("library %+v: want a shared object at its own path", f)
		}
	}
}

func TestInitrdListsModulesPerHypervisor(t *testing.T) {
	dir := t.TempDir()
	for _, m := range []string{"virtio.ko", "hv_vmbus.ko", "overlay.ko"} {
		if err := os.WriteFile(filepath.Join(dir, m), []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	agentBin := filepath.Join(dir, "agent")
	if err := os.WriteFile(agentBin, []byte("agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	lists := map[string][]string{
		ModulesListPath:             {"virtio.ko", "overlay.ko"},
		ModulesListPath + ".hyperv": {"hv_vmbus.ko", "overlay.ko"},
	}
	if err := writeInitrd(&buf, agentBin, dir, lists, nil); err != nil {
		t.Fatal(err)
	}
	files := readCPIO(t, &buf)
	for name, want := range map[string]string{
		"init":                      "agent",
		"lib/modules/overlay.ko":    "overlay.ko",
		"lib/modules/hv_vmbus.ko":   "hv_vmbus.ko",
		ModulesListPath:             "/lib/modules/virtio.ko\n/lib/modules/overlay.ko\n",
		ModulesListPath + ".hyperv": "/lib/modules/hv_vmbus.ko\n/lib/modules/overlay.ko\n",
	} {
		if files[name] != want {
			t.Errorf("%s: got %q, want %q", name, files[name], want)
		}
	}
}

func TestBuildWritesCompressedInitrd(t *testing.T) {
	// A root with one cloud kernel and one module, and no guest binaries.
	root := t.TempDir()
	const release = "6.1.0-1-cloud-amd64"
	modDir := filepath.Join(root, "lib", "modules", release)
	for path, body := range map[string]string{
		filepath.Join(root, "boot", "vmlinuz-"+release): "kernel",
		filepath.Join(modDir, "modules.dep"): "kernel/fs/overlay/overlay.ko:\n" +
			"kernel/virtio.ko:\nkernel/virtio_pci.ko: kernel/virtio.ko\nkernel/virtiofs.ko: kernel/virtio.ko\n" +
			"kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko\nkernel/net/802/stp.ko:\n",
		filepath.Join(modDir, "kernel/net/bridge/bridge.ko"):  "bridge.ko",
		filepath.Join(modDir, "kernel/net/802/stp.ko"):        "stp.ko",
		filepath.Join(modDir, "kernel/fs/overlay/overlay.ko"): "overlay.ko",
		filepath.Join(modDir, "kernel/virtio.ko"):             "virtio.ko",
		filepath.Join(modDir, "kernel/virtio_pci.ko"):         "virtio_pci.ko",
		filepath.Join(modDir, "kernel/virtiofs.ko"):           "virtiofs.ko",
		filepath.Join(root, "agent"):                          "agent",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(root, "out")
	err := Build(Options{Root: root, Agent: filepath.Join(root, "agent"), Out: out,
		Modules: []string{"overlay", "virtiofs"}, HyperVModules: []string{"overlay"},
		ConditionalModules: map[string][]string{uvm.ModulesPCI: {"virtio_pci"}}, Runtime: NoRuntime,
		NetAdminModules: []string{"bridge", "not_in_this_kernel", "overlay"},
		Manifest:        &bootmanifest.Manifest{AgentProtocol: 9, AgentVersion: "v-test"}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(out, bootmanifest.InitrdFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	frame, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	files := readCPIO(t, bytes.NewReader(unlz4(t, frame)))
	if files["init"] != "agent" || files["lib/modules/overlay.ko"] != "overlay.ko" {
		t.Errorf("initrd holds %v", files)
	}
	// A conditional list leaves out what the base list loads already; the
	// network admin's list also what the kernel lacks.
	for list, want := range map[string]string{
		ModulesListPath:                       "/lib/modules/overlay.ko\n/lib/modules/virtio.ko\n/lib/modules/virtiofs.ko\n",
		ModulesListPath + uvm.ModulesPCI:      "/lib/modules/virtio_pci.ko\n",
		ModulesListPath + uvm.ModulesNetAdmin: "/lib/modules/stp.ko\n/lib/modules/bridge.ko\n",
	} {
		if files[list] != want {
			t.Errorf("%s: got %q, want %q", list, files[list], want)
		}
	}
	if m, err := bootmanifest.Read(out); err != nil || m != (bootmanifest.Manifest{AgentProtocol: 9, AgentVersion: "v-test", KernelRelease: release}) {
		t.Errorf("manifest %+v, %v", m, err)
	}
	if _, err := os.Stat(filepath.Join(out, bootmanifest.InitrdFile+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

// readCPIO reads an archive's files by name; a name written twice is an
// error.
func readCPIO(t *testing.T, in io.Reader) map[string]string {
	t.Helper()
	files := map[string]string{}
	r := cpio.NewReader(in)
	for {
		h, err := r.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := files[h.Name]; dup {
			t.Errorf("%s written twice", h.Name)
		}
		b, _ := io.ReadAll(r)
		files[h.Name] = string(b)
	}
}

// A kernel built apart (hack/build-guest-kernel.sh) is taken from its own
// install tree, with most drivers built in: those are in no list and no
// file of the initrd, and what is left a module is loaded as before.
func TestBuildFromKernelRootWithBuiltins(t *testing.T) {
	dir := t.TempDir()
	kroot := filepath.Join(dir, "kernel")
	const release = "6.1.176-winctr"
	modDir := filepath.Join(kroot, "lib", "modules", release)
	for path, body := range map[string]string{
		filepath.Join(kroot, "boot", "vmlinuz-"+release): "kernel",
		filepath.Join(modDir, "modules.dep"): "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko\n" +
			"kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko:\n",
		filepath.Join(modDir, "modules.builtin"):                                           "kernel/fs/overlayfs/overlay.ko\nkernel/fs/fuse/virtiofs.ko\nkernel/drivers/virtio/virtio_pci.ko\n",
		filepath.Join(modDir, "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko"):        "transport.ko",
		filepath.Join(modDir, "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko"): "common.ko",
		filepath.Join(dir, "agent"):                                                        "agent",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	err := Build(Options{Root: filepath.Join(dir, "no-kernel-here"), KernelRoot: kroot, KernelRelease: release,
		Agent: filepath.Join(dir, "agent"), Out: out, Modules: []string{"overlay", "virtiofs"}, HyperVModules: []string{"overlay"},
		ConditionalModules: map[string][]string{uvm.ModulesPCI: {"virtio_pci"}, uvm.ModulesVsock: {"vmw_vsock_virtio_transport"}},
		Runtime:            NoRuntime, Manifest: &bootmanifest.Manifest{AgentProtocol: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, bootmanifest.KernelFile)); err != nil || string(b) != "kernel" {
		t.Fatalf("kernel: %q, %v", b, err)
	}
	frame, err := os.ReadFile(filepath.Join(out, bootmanifest.InitrdFile))
	if err != nil {
		t.Fatal(err)
	}
	files := readCPIO(t, bytes.NewReader(unlz4(t, frame)))
	for list, want := range map[string]string{
		ModulesListPath:                     "",
		ModulesListPath + uvm.ModulesHyperV: "",
		ModulesListPath + uvm.ModulesPCI:    "",
		ModulesListPath + uvm.ModulesVsock:  "/lib/modules/vmw_vsock_virtio_transport_common.ko\n/lib/modules/vmw_vsock_virtio_transport.ko\n",
	} {
		if got, ok := files[list]; !ok || got != want {
			t.Errorf("%s: got %q (%v), want %q", list, got, ok, want)
		}
	}
	for name := range files {
		if strings.HasSuffix(name, ".ko") && !strings.Contains(name, "vsock") {
			t.Errorf("initrd holds %s, built in", name)
		}
	}
}
