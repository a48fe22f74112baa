package imagebuild_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"

	"github.com/flagops/flagops/internal/imagebuild"
)

// testVersion is the version the test binary is linked as.
const testVersion = "v0.0.0-imagetest"

var (
	buildOnce sync.Once
	built     imagebuild.Binary
	buildErr  error
)

// hostBinary builds the real flagops binary for linux and this machine's
// architecture once per test run, the way the image build does.
func hostBinary(t *testing.T) imagebuild.Binary {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the image's binary is built and run for linux only")
	}
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		built, buildErr = imagebuild.GoBuild(ctx, moduleRoot(t), v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, testVersion)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// builtImage is the image of the real binary, assembled twice from the same
// inputs, and each written to an archive.
type builtImage struct {
	bin               imagebuild.Binary
	opts              imagebuild.Options
	img               v1.Image
	digest, digest2   v1.Hash
	archive, archive2 string
}

var (
	imageOnce sync.Once
	image     builtImage
	imageErr  error
)

// realImage builds the image of the real binary twice with testOptions,
// once per test run: compressing a 40 MB layer is the slow part of these
// tests.
func realImage(t *testing.T) builtImage {
	t.Helper()
	bin := hostBinary(t)
	imageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flagops-imagetest-")
		if err != nil {
			imageErr = err
			return
		}
		image = builtImage{bin: bin, opts: testOptions()}
		build := func(name string) (v1.Image, v1.Hash, string, error) {
			img, err := imagebuild.Image(bin, image.opts)
			if err != nil {
				return nil, v1.Hash{}, "", err
			}
			path := filepath.Join(dir, name)
			d, err := writeArchiveTo(path, img, image.opts)
			return img, d, path, err
		}
		if image.img, image.digest, image.archive, imageErr = build("first.tar"); imageErr != nil {
			return
		}
		_, image.digest2, image.archive2, imageErr = build("second.tar")
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return image
}

// moduleRoot is the directory of the flagops go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// testOptions are fixed image options: a build at a given commit time.
func testOptions() imagebuild.Options {
	return imagebuild.Options{
		Version:  testVersion,
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Source:   "https://github.com/flagops/flagops",
		Created:  time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC),
	}
}

// writeArchive writes top (an image or an index) to a file in a temporary directory and returns
// the file's path and the image digest.
func writeArchive(t *testing.T, top partial.Describable, opts imagebuild.Options) (string, v1.Hash) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flagops-image.tar")
	digest, err := writeArchiveTo(path, top, opts)
	if err != nil {
		t.Fatal(err)
	}
	return path, digest
}

func writeArchiveTo(path string, top partial.Describable, opts imagebuild.Options) (v1.Hash, error) {
	f, err := os.Create(path)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := imagebuild.WriteArchive(f, top, opts.Version, opts.Created)
	if err != nil {
		f.Close()
		return v1.Hash{}, err
	}
	return digest, f.Close()
}

// openArchive unpacks an OCI archive into a temporary directory, as a user
// would before "crane push", and opens the layout's index.
func openArchive(t *testing.T, path string) v1.ImageIndex {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || strings.HasPrefix(name, "..") {
			t.Fatalf("archive entry %q escapes the layout", h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(target, data, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("archive entry %q: unexpected type %c", h.Name, h.Typeflag)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("open the OCI layout: %v", err)
	}
	return idx
}

// layerFile is one entry of an image layer.
type layerFile struct {
	header *tar.Header
	data   []byte
}

// layerFiles reads every entry of the image's single layer.
func layerFiles(t *testing.T, img v1.Image) map[string]layerFile {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("image has %d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]layerFile{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, tr); err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = layerFile{header: h, data: buf.Bytes()}
	}
}

// fileSHA returns the hex SHA-256 of a file, for comparing archives.
func fileSHA(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, _, err := v1.SHA256(f)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(h)
}
