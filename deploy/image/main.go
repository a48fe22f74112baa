// Command image builds the flagops container image without a container
// engine and writes it as an OCI archive (an OCI image layout in a tar):
//
//	go run ./deploy/image                       # linux/amd64 and linux/arm64 into dist/flagops-image.tar
//	go run ./deploy/image -platforms linux/amd64 -out /tmp/flagops.tar
//
// It compiles ./cmd/flagops statically for each platform and appends it as
// one layer to an empty base (internal/imagebuild). The version, revision and
// timestamp come from git unless given, so building the same commit twice
// gives the same digest; the digest is printed. Push the archive with
//
//	skopeo copy oci-archive:dist/flagops-image.tar docker://ghcr.io/flagops/flagops:VERSION
//
// or unpack it and run "crane push DIR ghcr.io/flagops/flagops:VERSION".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"

	"github.com/flagops/flagops/internal/imagebuild"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	out := fs.String("out", "dist/flagops-image.tar", "OCI archive to write")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated linux/ARCH[/VARIANT] list; one gives a plain image, several an index")
	version := fs.String("version", "", "version to link and label (default: git describe --tags --always --dirty, else dev)")
	revision := fs.String("revision", "", "source revision label (default: git rev-parse HEAD)")
	source := fs.String("source", imagebuild.DefaultSource, "source repository label")
	created := fs.Int64("created", -1, "image time, Unix seconds (default: $SOURCE_DATE_EPOCH, else the commit time of HEAD, else 0)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	opts := imagebuild.Options{Version: *version, Revision: *revision, Source: *source}
	if opts.Version == "" {
		opts.Version = gitOr(root, "dev", "describe", "--tags", "--always", "--dirty")
	}
	if opts.Revision == "" {
		opts.Revision = gitOr(root, "", "rev-parse", "HEAD")
	}
	epoch := *created
	if epoch < 0 {
		if epoch, err = defaultEpoch(root); err != nil {
			return err
		}
	}
	opts.Created = time.Unix(epoch, 0).UTC()

	plats, err := parsePlatforms(*platforms)
	if err != nil {
		return err
	}
	bins := make([]imagebuild.Binary, 0, len(plats))
	for _, p := range plats {
		fmt.Fprintf(os.Stderr, "building flagops %s for %s\n", opts.Version, p.String())
		b, err := imagebuild.GoBuild(ctx, root, p, opts.Version)
		if err != nil {
			return err
		}
		bins = append(bins, b)
	}
	var top partial.Describable
	if len(bins) == 1 {
		top, err = imagebuild.Image(bins[0], opts)
	} else {
		top, err = imagebuild.Index(bins, opts)
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	digest, err := imagebuild.WriteArchive(f, top, opts.Version, opts.Created)
	if err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("%s\t%s\t%s\n", *out, opts.Version, digest)
	return nil
}

// parsePlatforms reads linux/ARCH[/VARIANT] entries.
func parsePlatforms(s string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		p, err := v1.ParsePlatform(e)
		if err != nil || p.OS != "linux" || p.Architecture == "" {
			return nil, fmt.Errorf("-platforms: %q is not linux/ARCH[/VARIANT]", e)
		}
		out = append(out, *p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-platforms: at least one platform is required")
	}
	return out, nil
}

// defaultEpoch is SOURCE_DATE_EPOCH when set (the reproducible-builds
// convention), else the commit time of HEAD, else 0.
func defaultEpoch(root string) (int64, error) {
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("SOURCE_DATE_EPOCH %q: want Unix seconds", v)
		}
		return n, nil
	}
	n, err := strconv.ParseInt(gitOr(root, "0", "log", "-1", "--format=%ct"), 10, 64)
	if err != nil {
		return 0, nil
	}
	return n, nil
}

// gitOr runs git in dir and returns its trimmed output, or def when git
// fails (no git, not a repository).
func gitOr(dir, def string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		return def
	}
	return strings.TrimSpace(string(out))
}

// moduleRoot finds the flagops module from the working directory.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run from inside the flagops module")
	}
	return filepath.Dir(mod), nil
}
