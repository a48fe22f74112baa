package cli

import (
	"fmt"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	flagopsv1 "github.com/flagops/flagops/gen/flagops/v1"
	"github.com/flagops/flagops/internal/domain"
)

func (a *app) releasesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "releases",
		Short: "Record and find releases: versions with their commits and artifacts",
		Long: `A release is a project's version with the commits it was built from
(repository → full git hash) and its artifacts (name, platform, URL, sha256,
size, signature). Releases are immutable: a correction is a new version.`,
		Example: `  flagops releases create shop 1.4.2 --commit github.com/acme/shop=3f2a…(40 hex) \
    --artifact name=shop,platform=linux/amd64,url=https://dl.example.com/shop-1.4.2,sha256=…(64 hex),size=1048576
  flagops releases find --commit 3f2a9c…`,
	}
	for _, c := range []*cobra.Command{a.releasesCreateCommand(), a.releasesGetCommand(), a.releasesListCommand(), a.releasesFindCommand()} {
		a.addClientFlags(c)
		cmd.AddCommand(c)
	}
	return cmd
}

// parseArtifact reads name=…,platform=…,url=…,sha256=…,size=…,signature=….
func parseArtifact(s string) (domain.Artifact, error) {
	var a domain.Artifact
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return a, usagef("--artifact %q: want key=value pairs separated by commas", s)
		}
		switch k {
		case "name":
			a.Name = v
		case "platform":
			a.Platform = v
		case "url":
			a.URL = v
		case "sha256":
			a.SHA256 = v
		case "signature":
			a.Signature = v
		case "size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return a, usagef("--artifact size %q is not a number", v)
			}
			a.Size = n
		default:
			return a, usagef("--artifact: unknown key %q (name, platform, url, sha256, size, signature)", k)
		}
	}
	return a, nil
}

func (a *app) releasesCreateCommand() *cobra.Command {
	var commits, labels map[string]string
	var artifacts []string
	var notes, output string
	cmd := &cobra.Command{
		Use: "create PROJECT VERSION",
		Long: `Create records a release with its commits (--commit REPOSITORY=SHA, the full
40-hex hash, once per repository the build used) and artifacts (--artifact
with name, platform, url, sha256 and size). A release cannot be changed once
created; creating the same version again fails with AlreadyExists.`,
		Short: "Record a release (immutable; a second create of a version fails)",
		Example: `  flagops releases create shop 1.4.2 \
    --commit github.com/acme/shop=3f2a9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b \
    --artifact name=shop,platform=linux/amd64,url=https://dl.example.com/shop-1.4.2-amd64,sha256=$(sha256sum shop | cut -c1-64),size=1048576 \
    --notes "checkout fix" --label channel=stable`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			rel := domain.Release{Workspace: a.workspace, Project: args[0], Version: args[1], Commits: commits, Notes: notes, Labels: labels}
			for _, s := range artifacts {
				art, err := parseArtifact(s)
				if err != nil {
					return err
				}
				rel.Artifacts = append(rel.Artifacts, art)
			}
			res, err := a.clients().releases.CreateRelease(cmd.Context(), connect.NewRequest(&flagopsv1.CreateReleaseRequest{Release: releaseToProto(rel)}))
			if err != nil {
				return fmt.Errorf("create release: %w", err)
			}
			out := releaseFromProto(res.Msg.GetRelease())
			return printValue(a.stdout, output, out, func() *table { return releaseTable([]domain.Release{out}) })
		},
	}
	cmd.Flags().StringToStringVar(&commits, "commit", nil, "REPOSITORY=SHA of every repository the build used (repeatable)")
	cmd.Flags().StringArrayVar(&artifacts, "artifact", nil, "name=…,platform=…,url=…,sha256=…,size=…[,signature=…] (repeatable)")
	cmd.Flags().StringVar(&notes, "notes", "", "release notes")
	cmd.Flags().StringToStringVar(&labels, "label", nil, "KEY=VALUE labels (repeatable)")
	addOutputFlag(cmd, &output)
	return cmd
}

func releaseTable(rs []domain.Release) *table {
	t := &table{header: []string{"PROJECT", "VERSION", "COMMITS", "ARTIFACTS", "CREATED", "REV"}}
	for _, r := range rs {
		var plats []string
		for _, a := range r.Artifacts {
			plats = append(plats, orDash(a.Platform))
		}
		t.add(r.Project, r.Version, strconv.Itoa(len(r.Commits)), joinOrDash(plats), timestamp(r.CreatedAt), strconv.FormatInt(r.Revision, 10))
	}
	return t
}

func (a *app) releasesGetCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "get PROJECT VERSION",
		Long:    `Get shows one release with its commits, artifacts, notes and labels.`,
		Short:   "Show one release",
		Example: `  flagops releases get shop 1.4.2 -o yaml`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			res, err := a.clients().releases.GetRelease(cmd.Context(), connect.NewRequest(&flagopsv1.GetReleaseRequest{Workspace: a.workspace, Project: args[0], Version: args[1]}))
			if err != nil {
				return fmt.Errorf("get release: %w", err)
			}
			r := releaseFromProto(res.Msg.GetRelease())
			return printValue(a.stdout, output, r, func() *table { return releaseTable([]domain.Release{r}) })
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func (a *app) listReleases(cmd *cobra.Command, output string, req *flagopsv1.ListReleasesRequest) error {
	if err := checkFormat(output); err != nil {
		return err
	}
	req.Workspace = a.workspace
	res, err := a.clients().releases.ListReleases(cmd.Context(), connect.NewRequest(req))
	if err != nil {
		return fmt.Errorf("list releases: %w", err)
	}
	rs := []domain.Release{}
	for _, r := range res.Msg.GetReleases() {
		rs = append(rs, releaseFromProto(r))
	}
	return printValue(a.stdout, output, rs, func() *table { return releaseTable(rs) })
}

func (a *app) releasesListCommand() *cobra.Command {
	var output, project string
	cmd := &cobra.Command{
		Use:     "list",
		Long:    `List shows the releases of the workspace, or of one project, newest first.`,
		Short:   "List releases, newest first",
		Example: `  flagops releases list --project shop`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.listReleases(cmd, output, &flagopsv1.ListReleasesRequest{Project: project, PageSize: 1000})
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&project, "project", "", "only this project's releases")
	return cmd
}

func (a *app) releasesFindCommand() *cobra.Command {
	var output, project, commit, artifact string
	cmd := &cobra.Command{
		Use: "find --commit SHA | --artifact SHA256",
		Long: `Find answers "which releases contain this commit?" (in any repository of
the build) and "which release is this binary?" (by the sha256 of an
artifact).`,
		Short: "Find the releases that contain a commit or an artifact digest",
		Example: `  flagops releases find --commit 3f2a9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b
  flagops releases find --artifact $(sha256sum ./shop | cut -c1-64)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (commit == "") == (artifact == "") {
				return usagef("give exactly one of --commit and --artifact")
			}
			return a.listReleases(cmd, output, &flagopsv1.ListReleasesRequest{Project: project, Commit: commit, Sha256: artifact})
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().StringVar(&commit, "commit", "", "a full 40-hex git commit hash")
	cmd.Flags().StringVar(&artifact, "artifact", "", "an artifact's sha256 digest (64 hex)")
	cmd.Flags().StringVar(&project, "project", "", "only this project's releases")
	return cmd
}
