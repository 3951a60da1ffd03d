package bootfiles

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// readModule returns a module file's name in the initrd and its content,
// decompressed where the distribution compressed it (.ko.xz, .ko.zst,
// .ko.gz): the guest agent hands the kernel plain .ko files, which every
// kernel loads, whether or not it was built to decompress modules.
func readModule(path string) (string, []byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	name := filepath.Base(path)
	var r io.Reader
	switch ext := filepath.Ext(name); ext {
	case ".xz":
		r, err = xz.NewReader(bytes.NewReader(raw))
	case ".zst":
		var d *zstd.Decoder
		if d, err = zstd.NewReader(bytes.NewReader(raw)); err == nil {
			defer d.Close()
			r = d
		}
	case ".gz":
		r, err = gzip.NewReader(bytes.NewReader(raw))
	default:
		return name, raw, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("module %s: %w", name, err)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return "", nil, fmt.Errorf("decompress module %s: %w", name, err)
	}
	return strings.TrimSuffix(name, filepath.Ext(name)), data, nil
}

// compareReleases orders kernel releases by their numbers, not their
// bytes: 6.1.0-10-cloud-amd64 is newer than 6.1.0-9-cloud-amd64, which a
// string comparison puts after it. Runs of digits compare as numbers,
// everything else as strings.
func compareReleases(a, b string) int {
	for a != "" && b != "" {
		ta, ra := releaseToken(a)
		tb, rb := releaseToken(b)
		na, errA := strconv.ParseUint(ta, 10, 64)
		nb, errB := strconv.ParseUint(tb, 10, 64)
		switch {
		case errA == nil && errB == nil:
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
		case ta != tb:
			return strings.Compare(ta, tb)
		}
		a, b = ra, rb
	}
	return strings.Compare(a, b)
}

// releaseToken splits off s's leading run of digits, or of anything else.
func releaseToken(s string) (string, string) {
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	i := 1
	for i < len(s) && digit(s[i]) == digit(s[0]) {
		i++
	}
	return s[:i], s[i:]
}
