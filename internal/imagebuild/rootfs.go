package imagebuild

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// caBundlePath is where Go (and most other TLS clients) look for the system
// roots on Linux.
const caBundlePath = "/etc/ssl/certs/ca-certificates.crt"

// entry is one file or directory of the image's only layer.
type entry struct {
	name     string // without a leading slash
	mode     int64
	uid, gid int
	data     []byte // nil for a directory
}

// rootEntries lists the layer's contents, parents before children, in the
// order they are written. The passwd and group files name the two users a
// process may run as, so that user lookups (and tools reading $HOME) work
// without a shell or package manager in the image.
func rootEntries(executable []byte) []entry {
	dir := func(name string, mode int64, uid, gid int) entry {
		return entry{name: name + "/", mode: mode, uid: uid, gid: gid}
	}
	file := func(name string, mode int64, data []byte) entry {
		return entry{name: name, mode: mode, data: data}
	}
	return []entry{
		dir("etc", 0o755, 0, 0),
		file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")),
		file("etc/nsswitch.conf", 0o644, []byte("hosts: files dns\n")),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")),
		dir("etc/ssl", 0o755, 0, 0),
		dir("etc/ssl/certs", 0o755, 0, 0),
		file(caBundlePath[1:], 0o644, caBundle()),
		dir("home", 0o755, 0, 0),
		dir("home/nonroot", 0o700, UID, GID),
		dir("root", 0o700, 0, 0),
		dir("tmp", 0o1777, 0, 0),
		dir("usr", 0o755, 0, 0),
		dir("usr/local", 0o755, 0, 0),
		dir("usr/local/bin", 0o755, 0, 0),
		// World-executable: the Argo CD plugin sidecar runs it as uid 999.
		file(BinaryPath[1:], 0o755, executable),
		dir("var", 0o755, 0, 0),
		dir("var/lib", 0o755, 0, 0),
		dir(DataDir[1:], 0o700, UID, GID),
	}
}

// caBundle returns the Mozilla NSS roots of the pinned
// golang.org/x/crypto/x509roots/fallback module as PEM. Roots NSS trusts only
// under extra constraints (a distrust-after date) cannot be expressed in a
// PEM file and are left out, as Debian's ca-certificates leaves them out.
func caBundle() []byte {
	var b bytes.Buffer
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate})
	}
	return b.Bytes()
}

// rootTar writes the layer's uncompressed tar: GNU headers with the fixed
// time and numeric owners only, so its bytes depend on the executable and
// the time alone.
func rootTar(executable []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range rootEntries(executable) {
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			ModTime: mtime,
			Format:  tar.FormatGNU,
		}
		if e.data == nil {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// rootLayer is the gzip-compressed OCI layer of rootTar.
func rootLayer(executable []byte, mtime time.Time) (v1.Layer, error) {
	raw, err := rootTar(executable, mtime)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}
