package render_test

import (
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestPluginManifest checks the shipped plugin configuration: the command
// line it runs exists as written, and it announces project and target.
func TestPluginManifest(t *testing.T) {
	b, err := os.ReadFile("../../deploy/argocd/plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string
		Spec       struct {
			Generate   struct{ Command []string }
			Discover   struct{ Find struct{ Command []string } }
			Parameters struct {
				Static []struct{ Name string }
			}
		}
	}
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range p.Spec.Parameters.Static {
		names = append(names, s.Name)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"kind", p.APIVersion == "argoproj.io/v1alpha1" && p.Kind == "ConfigManagementPlugin"},
		{"generate", slices.Equal(p.Spec.Generate.Command, []string{"flagops", "render"})},
		{"discover", slices.Equal(p.Spec.Discover.Find.Command, []string{"flagops", "render", "--discover"})},
		{"parameters", slices.Contains(names, "project") && slices.Contains(names, "target")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Errorf("plugin.yaml: %s is wrong: %+v", tc.name, p)
			}
		})
	}
}
