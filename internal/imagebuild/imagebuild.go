// Package imagebuild builds the flagops container image without a container
// engine: the static flagops binary and a few files are one layer on an empty
// base, assembled with go-containerregistry and written as an OCI image
// layout packed in a tar file (an "OCI archive"). Every timestamp, owner and
// file order is fixed, so the same binaries and Options give the same image
// digest on any machine.
//
// The image matches what the repository's Dockerfile builds on
// gcr.io/distroless/static: the binary at /usr/local/bin/flagops (on PATH, so
// the Argo CD plugin sidecar finds it), user 65532 (nonroot), port 8080, the
// data directory /var/lib/flagops, CA certificates and no shell.
package imagebuild

import (
	"fmt"
	"maps"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Fixed facts of the image, shared with the Dockerfile and the Helm chart.
const (
	// BinaryPath is where the flagops executable lives in the image.
	BinaryPath = "/usr/local/bin/flagops"
	// DataDir is the image's data directory: SQLite, master.key and
	// admin.token when the server keeps them on disk.
	DataDir = "/var/lib/flagops"
	// UID and GID are the nonroot user of distroless images.
	UID = 65532
	GID = 65532
	// Port is the port the server listens on in the image.
	Port = 8080
	// DefaultSource is the org.opencontainers.image.source label when
	// Options.Source is empty.
	DefaultSource = "https://github.com/flagops/flagops"
)

// OCI annotation keys the image sets as labels.
const (
	LabelVersion     = "org.opencontainers.image.version"
	LabelRevision    = "org.opencontainers.image.revision"
	LabelSource      = "org.opencontainers.image.source"
	LabelCreated     = "org.opencontainers.image.created"
	LabelTitle       = "org.opencontainers.image.title"
	LabelDescription = "org.opencontainers.image.description"
)

// Options are the inputs of an image besides its binaries. Two builds with
// equal binaries and equal Options produce the same digest.
type Options struct {
	// Version is the flagops version the binaries were built as, for the
	// version label and the layout's reference name. Required.
	Version string
	// Revision is the source revision (a git commit) for the revision label.
	Revision string
	// Source is the repository URL for the source label (DefaultSource when
	// empty).
	Source string
	// Created is the timestamp of the image, its history and every file in
	// the layer; callers pass a time derived from the source (the commit
	// time, SOURCE_DATE_EPOCH) rather than the clock, so that rebuilding
	// gives the same digest. The zero value means the Unix epoch.
	Created time.Time
}

// Binary is one platform's flagops executable.
type Binary struct {
	// Platform is the binary's OS and architecture (OS linux).
	Platform v1.Platform
	// Executable is the static binary itself.
	Executable []byte
}

func (o Options) created() time.Time {
	if o.Created.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return o.Created.UTC().Truncate(time.Second)
}

func (o Options) labels() map[string]string {
	source := o.Source
	if source == "" {
		source = DefaultSource
	}
	l := map[string]string{
		LabelTitle:       "flagops",
		LabelDescription: "The flagops control plane: catalog, facts, secrets, flags and versions",
		LabelVersion:     o.Version,
		LabelSource:      source,
		LabelCreated:     o.created().Format(time.RFC3339),
	}
	if o.Revision != "" {
		l[LabelRevision] = o.Revision
	}
	return l
}

// Image builds the single-platform image of bin.
func Image(bin Binary, opts Options) (v1.Image, error) {
	if opts.Version == "" {
		return nil, fmt.Errorf("image options: version is required")
	}
	if bin.Platform.OS != "linux" || bin.Platform.Architecture == "" {
		return nil, fmt.Errorf("image of %s: platform must be linux/ARCH", bin.Platform.String())
	}
	if len(bin.Executable) == 0 {
		return nil, fmt.Errorf("image of %s: the executable is empty", bin.Platform.String())
	}
	created := opts.created()
	layer, err := rootLayer(bin.Executable, created)
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", bin.Platform.String(), err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "flagops imagebuild: " + BinaryPath + ", CA certificates, nonroot user",
			Comment:   "flagops " + opts.Version,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("image of %s: append the layer: %w", bin.Platform.String(), err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image of %s: read the config: %w", bin.Platform.String(), err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	cf.OS = bin.Platform.OS
	cf.Architecture = bin.Platform.Architecture
	cf.Variant = bin.Platform.Variant
	cf.Config = Config(opts)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image of %s: set the config: %w", bin.Platform.String(), err)
	}
	return img, nil
}

// Config is the runtime configuration of the image: what runs, as whom, on
// which port, with which environment.
func Config(opts Options) v1.Config {
	return v1.Config{
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"serve"},
		User:       fmt.Sprintf("%d:%d", UID, GID),
		WorkingDir: DataDir,
		Env: []string{
			"PATH=/usr/local/bin:/usr/bin:/bin",
			"HOME=/home/nonroot",
			"SSL_CERT_FILE=" + caBundlePath,
			// serve listens on every interface of the container, and keeps
			// its state in the data directory (a volume); the CLI run in the
			// container (kubectl exec … flagops keys create) finds the
			// bootstrap admin token there.
			fmt.Sprintf("FLAGOPS_LISTEN=:%d", Port),
			"FLAGOPS_DATA_DIR=" + DataDir,
		},
		ExposedPorts: map[string]struct{}{fmt.Sprintf("%d/tcp", Port): {}},
		Volumes:      map[string]struct{}{DataDir: {}},
		Labels:       maps.Clone(opts.labels()),
		StopSignal:   "SIGTERM",
	}
}

// Index builds the multi-platform image index of bins, one image per binary,
// in the order given.
func Index(bins []Binary, opts Options) (v1.ImageIndex, error) {
	if len(bins) == 0 {
		return nil, fmt.Errorf("image index: no binaries")
	}
	adds := make([]mutate.IndexAddendum, 0, len(bins))
	seen := map[string]bool{}
	for _, b := range bins {
		if seen[b.Platform.String()] {
			return nil, fmt.Errorf("image index: platform %s given twice", b.Platform.String())
		}
		seen[b.Platform.String()] = true
		img, err := Image(b, opts)
		if err != nil {
			return nil, err
		}
		p := b.Platform
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	return mutate.AppendManifests(idx, adds...), nil
}
