// Package image builds the test image locally: an OCI image layout tar
// holding a static busybox, since no registry is reachable from CI.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	// go-digest hashes through crypto; sha256 must be linked in.
	_ "crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Name is what the image is called once imported.
const Name = "local/busybox:latest"

// PauseName is a pod sandbox image built from the same layer: its command
// sleeps until SIGTERM or SIGINT, which end it at once (as PID 1, a plain
// sleep would ignore them).
const PauseName = "local/pause:latest"

// Images maps each image this package builds to its default command.
var Images = map[string][]string{
	Name:      {"sh"},
	PauseName: {"sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"},
}

// Applets are the busybox commands the image links into /bin.
var Applets = []string{
	"sh", "echo", "cat", "sleep", "ls", "true", "false", "id", "wc", "head",
	"tail", "yes", "dd", "md5sum", "env", "kill", "ps", "stty", "tty", "uname",
	"hostname", "mkdir", "rm", "touch", "grep", "seq", "printf", "test", "nc",
	"wget", "httpd", "ip", "ifconfig", "mount", "df", "date", "tr", "od", "hexdump",
	"readlink", "route", "netstat", "brctl", "tunctl",
}

// epoch keeps the layer reproducible: the same busybox gives the same digest.
var epoch = time.Unix(0, 0)

// Build writes the OCI layout tar of the busybox image to w, with busybox
// read from the given path (Debian's busybox-static: /bin/busybox).
func Build(w io.Writer, busybox string) error {
	return BuildNamed(w, busybox, Name)
}

// BuildNamed writes the OCI layout tar of one of Images.
func BuildNamed(w io.Writer, busybox, name string) error {
	cmd, ok := Images[name]
	if !ok {
		return fmt.Errorf("no image %q to build", name)
	}
	layer, diffID, err := buildLayer(busybox)
	if err != nil {
		return err
	}
	cfg := ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config: ocispec.ImageConfig{
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd: cmd,
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgDesc := descriptor(ocispec.MediaTypeImageConfig, cfgJSON)
	layerDesc := descriptor(ocispec.MediaTypeImageLayerGzip, layer)
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	}
	manJSON, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	manDesc := descriptor(ocispec.MediaTypeImageManifest, manJSON)
	manDesc.Annotations = map[string]string{
		ocispec.AnnotationRefName:  "latest",
		"io.containerd.image.name": name,
	}
	manDesc.Platform = &ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manDesc},
	}
	idxJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	layout, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	files := []struct {
		name string
		data []byte
	}{
		{ocispec.ImageLayoutFile, layout},
		{"index.json", idxJSON},
		{blobPath(cfgDesc.Digest), cfgJSON},
		{blobPath(layerDesc.Digest), layer},
		{blobPath(manDesc.Digest), manJSON},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := writeFile(tw, f.name, f.data, 0o644); err != nil {
			return err
		}
	}
	return tw.Close()
}

// BuildFile writes the tar of the image called name to path.
func BuildFile(path, busybox, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := BuildNamed(f, busybox, name); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func descriptor(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

func writeFile(tw *tar.Writer, name string, data []byte, mode int64) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// buildLayer returns the gzipped layer and the digest of its tar (diff id).
func buildLayer(busybox string) ([]byte, digest.Digest, error) {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return nil, "", fmt.Errorf("read busybox (install busybox-static): %w", err)
	}
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, d := range []struct {
		name string
		mode int64
	}{{"bin/", 0o755}, {"dev/", 0o755}, {"etc/", 0o755}, {"proc/", 0o555}, {"sys/", 0o555}, {"tmp/", 0o1777}, {"root/", 0o700}, {"var/", 0o755}, {"usr/", 0o755}, {"usr/bin/", 0o755}} {
		if err := tw.WriteHeader(&tar.Header{Name: d.name, Typeflag: tar.TypeDir, Mode: d.mode, ModTime: epoch}); err != nil {
			return nil, "", err
		}
	}
	if err := writeFile(tw, "bin/busybox", bb, 0o755); err != nil {
		return nil, "", err
	}
	for _, a := range Applets {
		if err := tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777, ModTime: epoch}); err != nil {
			return nil, "", err
		}
	}
	etc := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
		"etc/hosts":  "127.0.0.1 localhost\n",
	}
	for _, name := range []string{"etc/passwd", "etc/group", "etc/hosts"} {
		if err := writeFile(tw, name, []byte(etc[name]), 0o644); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	diffID := digest.FromBytes(raw.Bytes())
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, "", err
	}
	zw.ModTime = epoch
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), diffID, nil
}
