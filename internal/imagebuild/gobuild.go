package imagebuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// MainPackage is the package of the flagops command, relative to the module
// root.
const MainPackage = "./cmd/flagops"

// versionVar is the variable the build version is linked into.
const versionVar = "github.com/flagops/flagops/cli.Version"

// GoBuildArgs are the arguments of "go build" for the image's binary (the
// Dockerfile passes the same): no cgo, so the binary is static and runs on an
// empty base; trimmed paths, so it does not depend on where the source lies;
// the time zone database embedded (promotion schedules name zones and the
// image has no /usr/share/zoneinfo); symbols stripped.
func GoBuildArgs(version, out string) []string {
	return []string{"build", "-trimpath", "-tags", "timetzdata",
		"-ldflags", "-s -w -X " + versionVar + "=" + version,
		"-o", out, MainPackage}
}

// GoBuild compiles the flagops command of the module at moduleDir for
// platform p with GoBuildArgs, with the go command on PATH, and returns the
// executable. The build's own environment (GOFLAGS, GOPROXY, the caches)
// applies; CGO_ENABLED, GOOS, GOARCH and GOARM are set for the platform.
func GoBuild(ctx context.Context, moduleDir string, p v1.Platform, version string) (Binary, error) {
	if p.OS != "linux" || p.Architecture == "" {
		return Binary{}, fmt.Errorf("build for %s: platform must be linux/ARCH", p.String())
	}
	tmp, err := os.MkdirTemp("", "flagops-build-")
	if err != nil {
		return Binary{}, fmt.Errorf("build for %s: %w", p.String(), err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "flagops")
	cmd := exec.CommandContext(ctx, "go", GoBuildArgs(version, out)...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Architecture == "arm" && p.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return Binary{}, fmt.Errorf("go build for %s: %w\n%s", p.String(), err, stderr.Bytes())
	}
	exe, err := os.ReadFile(out)
	if err != nil {
		return Binary{}, fmt.Errorf("build for %s: %w", p.String(), err)
	}
	return Binary{Platform: p, Executable: exe}, nil
}
