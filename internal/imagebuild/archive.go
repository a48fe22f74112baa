package imagebuild

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// RefNameAnnotation names an image inside an OCI layout (its tag).
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// WriteArchive writes top, a v1.Image or a v1.ImageIndex, to w as an OCI
// image layout packed in a tar (what "skopeo copy oci-archive:FILE" reads,
// and "crane push DIR" once unpacked): oci-layout, index.json naming top
// with refName, and blobs/sha256/*. Entries come in lexical order with the
// time mtime, mode 0644 (directories 0755) and owner 0, so equal images give
// equal archives. It returns top's digest, the digest a registry reports
// once it is pushed.
func WriteArchive(w io.Writer, top partial.Describable, refName string, mtime time.Time) (v1.Hash, error) {
	dir, err := os.MkdirTemp("", "flagops-oci-layout-")
	if err != nil {
		return v1.Hash{}, fmt.Errorf("write OCI archive: %w", err)
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("write OCI layout: %w", err)
	}
	ann := layout.WithAnnotations(map[string]string{RefNameAnnotation: refName})
	switch t := top.(type) {
	case v1.ImageIndex:
		err = lp.AppendIndex(t, ann)
	case v1.Image:
		err = lp.AppendImage(t, ann)
	default:
		return v1.Hash{}, fmt.Errorf("write OCI layout: %T is neither an image nor an index", top)
	}
	if err != nil {
		return v1.Hash{}, fmt.Errorf("write OCI layout: %w", err)
	}
	digest, err := top.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("digest of the image: %w", err)
	}
	if err := tarDir(w, dir, mtime); err != nil {
		return v1.Hash{}, fmt.Errorf("pack the OCI layout: %w", err)
	}
	return digest, nil
}

// tarDir packs the regular files and directories under root into w.
func tarDir(w io.Writer, root string, mtime time.Time) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Format: tar.FormatGNU}
		switch {
		case d.IsDir():
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			return tw.WriteHeader(h)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, info.Size()
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		default:
			return fmt.Errorf("%s: not a regular file or directory", rel)
		}
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
