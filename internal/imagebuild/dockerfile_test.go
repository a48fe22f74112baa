package imagebuild_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flagops/flagops/internal/imagebuild"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	op   string
	args string
}

// dockerfile reads the repository's Dockerfile into its instructions.
func dockerfile(t *testing.T) []instruction {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(moduleRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		cont := strings.HasSuffix(trimmed, "\\")
		cur.WriteString(strings.TrimSuffix(trimmed, "\\"))
		cur.WriteString(" ")
		if cont {
			continue
		}
		op, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(op), strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	return out
}

// TestDockerfileMatchesImage keeps the Dockerfile, for people with Docker,
// in step with the engine-free build CI runs: the same go build arguments,
// a static binary on a shell-less distroless base, the same user, port,
// place, environment and entrypoint.
func TestDockerfileMatchesImage(t *testing.T) {
	ins := dockerfile(t)
	last := -1
	for i, in := range ins {
		if in.op == "FROM" {
			last = i
		}
	}
	if last < 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	var build, final strings.Builder
	for i, in := range ins {
		b := &build
		if i >= last {
			b = &final
		}
		b.WriteString(in.op + " " + in.args + "\n")
	}
	cfg := imagebuild.Config(testOptions())
	goBuild := strings.Join(imagebuild.GoBuildArgs("${VERSION}", "/out/flagops"), " ")
	// The -ldflags value is one argument to go build and quoted in the
	// Dockerfile.
	goBuild = strings.Replace(goBuild, "-ldflags -s -w -X", `-ldflags "-s -w -X`, 1)
	goBuild = strings.Replace(goBuild, "=${VERSION} -o", `=${VERSION}" -o`, 1)
	tests := []struct {
		name, in, want string
	}{
		{"static binary", build.String(), "CGO_ENABLED=0"},
		{"build arguments", build.String(), strings.Replace(goBuild, "build ", "build -buildvcs=false ", 1)},
		{"distroless static base", ins[last].args, "gcr.io/distroless/static"},
		{"binary place", final.String(), "/out/flagops " + imagebuild.BinaryPath},
		{"user", final.String(), "USER " + cfg.User},
		{"port", final.String(), "EXPOSE 8080"},
		{"working dir", final.String(), "WORKDIR " + cfg.WorkingDir},
		{"volume", final.String(), "VOLUME " + imagebuild.DataDir},
		{"data dir owner", final.String(), "--chown=65532:65532 --chmod=0700 /out/data " + imagebuild.DataDir},
		{"listen env", final.String(), "FLAGOPS_LISTEN=:8080"},
		{"data dir env", final.String(), "FLAGOPS_DATA_DIR=" + imagebuild.DataDir},
		{"entrypoint", final.String(), `ENTRYPOINT ["` + cfg.Entrypoint[0] + `"]`},
		{"cmd", final.String(), `CMD ["` + cfg.Cmd[0] + `"]`},
		{"version label", final.String(), imagebuild.LabelVersion + `="${VERSION}"`},
		{"revision label", final.String(), imagebuild.LabelRevision + `="${REVISION}"`},
		{"source label", final.String(), imagebuild.LabelSource + `="` + imagebuild.DefaultSource + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(tt.in, tt.want) {
				t.Fatalf("Dockerfile lacks %q in:\n%s", tt.want, tt.in)
			}
		})
	}
	t.Run("no RUN in the final stage", func(t *testing.T) {
		if strings.Contains(final.String(), "\nRUN ") || strings.HasPrefix(final.String(), "RUN ") {
			t.Fatalf("the final stage runs a command, so it would need a shell:\n%s", final.String())
		}
	})
}
