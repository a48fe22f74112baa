package imagebuild_test

import (
	"crypto/x509"
	"encoding/pem"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/flagops/flagops/internal/imagebuild"
)

// TestSameInputsSameDigest builds the image of the real binary twice: the
// same digest and a byte-identical archive. Then each input (version,
// revision, source, time, binary) changes the digest, shown on a small
// stand-in executable.
func TestSameInputsSameDigest(t *testing.T) {
	b := realImage(t)
	if b.digest != b.digest2 {
		t.Fatalf("two builds of the same inputs: %s and %s", b.digest, b.digest2)
	}
	if got, want := fileSHA(t, b.archive2), fileSHA(t, b.archive); got != want {
		t.Fatalf("two archives of the same inputs differ: %s vs %s", got, want)
	}
	if d, err := b.img.Digest(); err != nil || d != b.digest {
		t.Fatalf("image digest %s (%v), archive digest %s", d, err, b.digest)
	}

	small := imagebuild.Binary{Platform: b.bin.Platform, Executable: []byte("#!stand-in executable")}
	base := testOptions()
	digest := func(t *testing.T, bin imagebuild.Binary, opts imagebuild.Options) v1.Hash {
		t.Helper()
		img, err := imagebuild.Image(bin, opts)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	baseDigest := digest(t, small, base)
	otherBin := imagebuild.Binary{Platform: small.Platform, Executable: append(slices.Clone(small.Executable), 0)}
	tests := []struct {
		name string
		bin  imagebuild.Binary
		opts func(o *imagebuild.Options)
		same bool
	}{
		{"same inputs", small, func(*imagebuild.Options) {}, true},
		{"same instant in another zone", small, func(o *imagebuild.Options) { o.Created = o.Created.In(time.FixedZone("X", 3600)) }, true},
		{"other version", small, func(o *imagebuild.Options) { o.Version = "v0.0.1" }, false},
		{"other revision", small, func(o *imagebuild.Options) { o.Revision = strings.Repeat("f", 40) }, false},
		{"other source", small, func(o *imagebuild.Options) { o.Source = "https://example.com/fork" }, false},
		{"other time", small, func(o *imagebuild.Options) { o.Created = o.Created.Add(time.Second) }, false},
		{"other binary", otherBin, func(*imagebuild.Options) {}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := base
			tt.opts(&opts)
			if d := digest(t, tt.bin, opts); (d == baseDigest) != tt.same {
				t.Fatalf("digest %s vs %s: same = %v, want %v", d, baseDigest, d == baseDigest, tt.same)
			}
		})
	}
}

// TestArchiveConfig opens the written archive as a user's tools do and
// checks what the image runs and declares.
func TestArchiveConfig(t *testing.T) {
	b := realImage(t)
	bin, opts, digest := b.bin, b.opts, b.digest
	idx := openArchive(t, b.archive)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json has %d manifests, want 1", len(im.Manifests))
	}
	desc := im.Manifests[0]
	if desc.Digest != digest || desc.MediaType != types.OCIManifestSchema1 {
		t.Fatalf("index.json names %s (%s), want %s (%s)", desc.Digest, desc.MediaType, digest, types.OCIManifestSchema1)
	}
	if got := desc.Annotations[imagebuild.RefNameAnnotation]; got != opts.Version {
		t.Fatalf("ref name %q, want %q", got, opts.Version)
	}
	read, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := read.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
		t.Fatalf("manifest media types: config %s, layers %v; want OCI", m.Config.MediaType, m.Layers)
	}
	cf, err := read.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	checks := []struct {
		name      string
		got, want any
	}{
		{"os", cf.OS, "linux"},
		{"architecture", cf.Architecture, bin.Platform.Architecture},
		{"created", cf.Created.UTC(), opts.Created},
		{"entrypoint", c.Entrypoint, []string{"/usr/local/bin/flagops"}},
		{"cmd", c.Cmd, []string{"serve"}},
		{"user", c.User, "65532:65532"},
		{"working dir", c.WorkingDir, "/var/lib/flagops"},
		{"exposed ports", c.ExposedPorts, map[string]struct{}{"8080/tcp": {}}},
		{"volumes", c.Volumes, map[string]struct{}{"/var/lib/flagops": {}}},
		{"version label", c.Labels["org.opencontainers.image.version"], opts.Version},
		{"revision label", c.Labels["org.opencontainers.image.revision"], opts.Revision},
		{"source label", c.Labels["org.opencontainers.image.source"], opts.Source},
		{"created label", c.Labels["org.opencontainers.image.created"], "2026-10-01T12:00:00Z"},
		{"listen env", slices.Contains(c.Env, "FLAGOPS_LISTEN=:8080"), true},
		{"data dir env", slices.Contains(c.Env, "FLAGOPS_DATA_DIR=/var/lib/flagops"), true},
		{"PATH has the binary's directory", slices.Contains(c.Env, "PATH=/usr/local/bin:/usr/bin:/bin"), true},
		{"history entries", len(cf.History), 1},
		{"history time", cf.History[0].Created.UTC(), opts.Created},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			if !equal(ck.got, ck.want) {
				t.Fatalf("%s = %v, want %v", ck.name, ck.got, ck.want)
			}
		})
	}
}

// TestLayer checks the files of the image: the binary as built, owners and
// modes that let uid 65532 write only its data directory, CA roots that
// parse, the fixed time on every entry, and nothing that could be a shell.
func TestLayer(t *testing.T) {
	b := realImage(t)
	bin, opts := b.bin, b.opts
	files := layerFiles(t, b.img)
	tests := []struct {
		path     string
		mode     int64
		uid, gid int
	}{
		{"usr/local/bin/flagops", 0o755, 0, 0},
		{"var/lib/flagops", 0o700, imagebuild.UID, imagebuild.GID},
		{"home/nonroot", 0o700, imagebuild.UID, imagebuild.GID},
		{"tmp", 0o1777, 0, 0},
		{"etc/passwd", 0o644, 0, 0},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f, ok := files[tt.path]
			if !ok {
				t.Fatalf("%s is missing from the layer", tt.path)
			}
			if f.header.Mode != tt.mode || f.header.Uid != tt.uid || f.header.Gid != tt.gid {
				t.Fatalf("%s: mode %o owner %d:%d, want %o %d:%d", tt.path, f.header.Mode, f.header.Uid, f.header.Gid, tt.mode, tt.uid, tt.gid)
			}
		})
	}
	t.Run("binary as built", func(t *testing.T) {
		if got := files["usr/local/bin/flagops"].data; !slices.Equal(got, bin.Executable) {
			t.Fatalf("layer binary: %d bytes, built %d bytes, contents differ", len(got), len(bin.Executable))
		}
	})
	t.Run("fixed time and owners", func(t *testing.T) {
		for name, f := range files {
			if !f.header.ModTime.Equal(opts.Created) || f.header.Uname != "" || f.header.Gname != "" {
				t.Errorf("%s: time %v owner names %q:%q, want %v and numeric owners only", name, f.header.ModTime, f.header.Uname, f.header.Gname, opts.Created)
			}
		}
	})
	t.Run("no shell", func(t *testing.T) {
		for name := range files {
			switch path.Base(name) {
			case "sh", "bash", "ash", "dash", "busybox":
				t.Errorf("%s is in the image", name)
			}
		}
	})
	t.Run("nonroot user", func(t *testing.T) {
		if !strings.Contains(string(files["etc/passwd"].data), "nonroot:x:65532:65532:") {
			t.Fatalf("etc/passwd has no nonroot 65532 entry:\n%s", files["etc/passwd"].data)
		}
	})
	t.Run("CA roots parse", func(t *testing.T) {
		rest, n := files["etc/ssl/certs/ca-certificates.crt"].data, 0
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if _, err := x509.ParseCertificate(b.Bytes); err != nil {
				t.Fatalf("certificate %d: %v", n, err)
			}
			n++
		}
		if n < 100 || len(strings.TrimSpace(string(rest))) != 0 {
			t.Fatalf("%d certificates and %d trailing bytes; want a full root store", n, len(rest))
		}
	})
}

// TestIndex builds a multi-platform index: one image per platform, each
// naming its platform, and refuses what cannot be an image.
func TestIndex(t *testing.T) {
	opts := testOptions()
	amd := imagebuild.Binary{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Executable: []byte("amd64 binary")}
	arm := imagebuild.Binary{Platform: v1.Platform{OS: "linux", Architecture: "arm64"}, Executable: []byte("arm64 binary")}
	idx, err := imagebuild.Index([]imagebuild.Binary{amd, arm}, opts)
	if err != nil {
		t.Fatal(err)
	}
	archive, digest := writeArchive(t, idx, opts)
	top := openArchive(t, archive)
	tim, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tim.Manifests) != 1 || tim.Manifests[0].Digest != digest || tim.Manifests[0].MediaType != types.OCIImageIndex {
		t.Fatalf("index.json: %+v, want one OCI index %s", tim.Manifests, digest)
	}
	read, err := top.ImageIndex(digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := read.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("%d manifests, want 2", len(im.Manifests))
	}
	for i, want := range []string{"amd64", "arm64"} {
		d := im.Manifests[i]
		if d.Platform == nil || d.Platform.Architecture != want || d.Platform.OS != "linux" {
			t.Fatalf("manifest %d platform %v, want linux/%s", i, d.Platform, want)
		}
		img, err := read.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != want {
			t.Fatalf("image %d config architecture %q, want %q", i, cf.Architecture, want)
		}
	}

	refused := []struct {
		name string
		bins []imagebuild.Binary
		opts imagebuild.Options
		want string
	}{
		{"no binaries", nil, opts, "no binaries"},
		{"platform twice", []imagebuild.Binary{amd, amd}, opts, "linux/amd64 given twice"},
		{"not linux", []imagebuild.Binary{{Platform: v1.Platform{OS: "darwin", Architecture: "arm64"}, Executable: []byte("x")}}, opts, "platform must be linux/ARCH"},
		{"empty executable", []imagebuild.Binary{{Platform: amd.Platform}}, opts, "executable is empty"},
		{"no version", []imagebuild.Binary{amd}, imagebuild.Options{}, "version is required"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := imagebuild.Index(tt.bins, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// equal compares the values of checks: slices and maps by content.
func equal(a, b any) bool {
	switch x := a.(type) {
	case []string:
		return slices.Equal(x, b.([]string))
	case map[string]struct{}:
		y := b.(map[string]struct{})
		if len(x) != len(y) {
			return false
		}
		for k := range x {
			if _, ok := y[k]; !ok {
				return false
			}
		}
		return true
	case time.Time:
		return x.Equal(b.(time.Time))
	}
	return a == b
}
