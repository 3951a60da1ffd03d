package bootfiles

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

func compressed(t *testing.T, ext string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch ext {
	case ".xz":
		var w *xz.Writer
		if w, err = xz.NewWriter(&b); err == nil {
			_, err = w.Write(data)
			err = errors.Join(err, w.Close())
		}
	case ".zst":
		var w *zstd.Encoder
		if w, err = zstd.NewWriter(&b); err == nil {
			_, err = w.Write(data)
			err = errors.Join(err, w.Close())
		}
	case ".gz":
		w := gzip.NewWriter(&b)
		_, err = w.Write(data)
		err = errors.Join(err, w.Close())
	default:
		return data
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestInitrdDecompressesModules(t *testing.T) {
	dir := t.TempDir()
	agentBin := filepath.Join(dir, "agent")
	if err := os.WriteFile(agentBin, []byte("agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	var list []string
	want := map[string]string{}
	for _, ext := range []string{"", ".xz", ".zst", ".gz"} {
		name := "m" + map[string]string{"": "plain", ".xz": "xz", ".zst": "zst", ".gz": "gz"}[ext] + ".ko"
		body := []byte("ELF of " + name)
		if err := os.WriteFile(filepath.Join(dir, name+ext), compressed(t, ext, body), 0o644); err != nil {
			t.Fatal(err)
		}
		list = append(list, name+ext)
		want["lib/modules/"+name] = string(body)
	}
	var buf bytes.Buffer
	if err := writeInitrd(&buf, agentBin, dir, map[string][]string{ModulesListPath: list}, nil); err != nil {
		t.Fatal(err)
	}
	files := readCPIO(t, &buf)
	for name, body := range want {
		if files[name] != body {
			t.Errorf("%s: got %q, want %q", name, files[name], body)
		}
	}
	if got := files[ModulesListPath]; got != "/lib/modules/mplain.ko\n/lib/modules/mxz.ko\n/lib/modules/mzst.ko\n/lib/modules/mgz.ko\n" {
		t.Errorf("module list names the compressed files: %q", got)
	}

	if err := os.WriteFile(filepath.Join(dir, "bad.ko.xz"), []byte("not xz"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeInitrd(&buf, agentBin, dir, map[string][]string{ModulesListPath: {"bad.ko.xz"}}, nil); err == nil {
		t.Error("a corrupt .ko.xz was written")
	}
}

func TestCompareReleases(t *testing.T) {
	in := []string{"6.1.0-9-cloud-amd64", "6.1.0-10-cloud-amd64", "5.10.0-28-cloud-amd64", "6.12.1-1-cloud-amd64", "6.1.0-10-cloud-amd64"}
	got := slices.Clone(in)
	slices.SortFunc(got, compareReleases)
	want := []string{"5.10.0-28-cloud-amd64", "6.1.0-9-cloud-amd64", "6.1.0-10-cloud-amd64", "6.1.0-10-cloud-amd64", "6.12.1-1-cloud-amd64"}
	if !slices.Equal(got, want) {
		t.Errorf("sorted %v, want %v", got, want)
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"6.1.0-9", "6.1.0-10", -1},
		{"6.1.0-10", "6.1.0-9", 1},
		{"6.1", "6.1.0", -1},
		{"6.1.0-rc1", "6.1.0-rc2", -1},
		{"x", "x", 0},
	} {
		if got := compareReleases(tc.a, tc.b); got != tc.want {
			t.Errorf("compareReleases(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestNewestCloudKernelByVersion(t *testing.T) {
	root := t.TempDir()
	for _, r := range []string{"6.1.0-9-cloud-amd64", "6.1.0-10-cloud-amd64", "6.1.0-11-amd64"} {
		if err := os.MkdirAll(filepath.Join(root, "lib", "modules", r), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, "boot"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "boot", "vmlinuz-"+r), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := NewestCloudKernel(root); err != nil || got != "6.1.0-10-cloud-amd64" {
		t.Errorf("NewestCloudKernel = %q, %v; want 6.1.0-10-cloud-amd64", got, err)
	}
}
