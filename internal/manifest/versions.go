package manifest

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flagops/flagops/internal/domain"
	"github.com/flagops/flagops/internal/errs"
)

// The Release and PromotionPolicy kinds: see docs/versions.md.

var (
	releaseFields = []string{"workspace", "project", "version", "commits", "artifacts", "notes", "labels"}
	policyFields  = []string{"workspace", "project", "from", "to", "soak", "schedule", "timezone",
		"allowedWindows", "freezeWindows", "requireApproval", "disabled"}
)

func decodeRelease(n *yaml.Node) (string, any, error) {
	var y struct {
		Workspace string            `yaml:"workspace"`
		Project   string            `yaml:"project"`
		Version   string            `yaml:"version"`
		Commits   map[string]string `yaml:"commits"`
		Artifacts []struct {
			Name      string `yaml:"name"`
			Platform  string `yaml:"platform"`
			URL       string `yaml:"url"`
			SHA256    string `yaml:"sha256"`
			Size      int64  `yaml:"size"`
			Signature string `yaml:"signature"`
		} `yaml:"artifacts"`
		Notes  string            `yaml:"notes"`
		Labels map[string]string `yaml:"labels"`
	}
	if err := n.Decode(&y); err != nil {
		return "", nil, yamlFieldError(err)
	}
	r := domain.Release{Project: y.Project, Version: y.Version, Commits: y.Commits, Notes: y.Notes, Labels: y.Labels}
	for _, a := range y.Artifacts {
		r.Artifacts = append(r.Artifacts, domain.Artifact{Name: a.Name, Platform: a.Platform, URL: a.URL, SHA256: a.SHA256, Size: a.Size, Signature: a.Signature})
	}
	if y.Workspace != "" {
		if err := domain.ValidateName("workspace", y.Workspace); err != nil {
			return "", nil, err
		}
	}
	return y.Workspace, r, r.Validate()
}

type yamlWindow struct {
	Start  string   `yaml:"start"`
	End    string   `yaml:"end"`
	Days   []string `yaml:"days"`
	From   string   `yaml:"from"`
	To     string   `yaml:"to"`
	Reason string   `yaml:"reason"`
}

func windowsIn(field string, in []yamlWindow) ([]domain.Window, error) {
	var out []domain.Window
	for i, w := range in {
		dw := domain.Window{Days: w.Days, From: w.From, To: w.To, Reason: w.Reason}
		for _, t := range []struct {
			name, v string
			dst     *time.Time
		}{{"start", w.Start, &dw.Start}, {"end", w.End, &dw.End}} {
			if t.v == "" {
				continue
			}
			v, err := time.Parse(time.RFC3339, t.v)
			if err != nil {
				return nil, errs.Field(fmt.Sprintf("%s[%d].%s", field, i, t.name), "%s is not an RFC 3339 time", errs.Quote(t.v))
			}
			*t.dst = v
		}
		out = append(out, dw)
	}
	return out, nil
}

func decodePolicy(n *yaml.Node) (string, any, error) {
	var y struct {
		Workspace       string       `yaml:"workspace"`
		Project         string       `yaml:"project"`
		From            string       `yaml:"from"`
		To              string       `yaml:"to"`
		Soak            string       `yaml:"soak"`
		Schedule        string       `yaml:"schedule"`
		Timezone        string       `yaml:"timezone"`
		AllowedWindows  []yamlWindow `yaml:"allowedWindows"`
		FreezeWindows   []yamlWindow `yaml:"freezeWindows"`
		RequireApproval bool         `yaml:"requireApproval"`
		Disabled        bool         `yaml:"disabled"`
	}
	if err := n.Decode(&y); err != nil {
		return "", nil, yamlFieldError(err)
	}
	p := domain.PromotionPolicy{Project: y.Project, From: y.From, To: y.To, Schedule: y.Schedule, Timezone: y.Timezone,
		RequireApproval: y.RequireApproval, Disabled: y.Disabled}
	if y.Soak != "" {
		d, err := time.ParseDuration(y.Soak)
		if err != nil {
			return "", nil, errs.Field("soak", "%s is not a duration such as 30m or 2h", errs.Quote(y.Soak))
		}
		p.Soak = d
	}
	var err error
	if p.AllowedWindows, err = windowsIn("allowedWindows", y.AllowedWindows); err != nil {
		return "", nil, err
	}
	if p.FreezeWindows, err = windowsIn("freezeWindows", y.FreezeWindows); err != nil {
		return "", nil, err
	}
	if y.Workspace != "" {
		if err := domain.ValidateName("workspace", y.Workspace); err != nil {
			return "", nil, err
		}
	}
	return y.Workspace, p, p.Validate()
}
