// Package gitwrite writes values from the change log into a git repository,
// for Flux users whose desired state lives in git: a Kustomize image tag or
// a Helm values key, committed with a message naming the flagops revision
// and pushed without ever forcing; then a Flux Receiver is called so Flux
// reconciles at once.
package gitwrite

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/flagops/flagops/internal/errs"
)

// Field says where in a YAML file the value goes. Exactly one of its
// members is set.
type Field struct {
	// KustomizeImage names an entry of a kustomization.yaml's images list:
	// the value becomes images[name=KustomizeImage].newTag.
	KustomizeImage string `yaml:"kustomizeImage" json:"kustomizeImage,omitempty"`
	// ValuesPath is a dotted key path in a YAML mapping (Helm values), such
	// as "image.tag"; missing mappings on the way are created.
	ValuesPath string `yaml:"valuesPath" json:"valuesPath,omitempty"`
}

// String names the field the way commit messages do.
func (f Field) String() string {
	if f.KustomizeImage != "" {
		return "images[name=" + f.KustomizeImage + "].newTag"
	}
	return f.ValuesPath
}

// Validate checks that exactly one member is set.
func (f Field) Validate() error {
	if (f.KustomizeImage == "") == (f.ValuesPath == "") {
		return errs.Field("field", "set exactly one of kustomizeImage and valuesPath")
	}
	if f.ValuesPath != "" {
		for _, p := range strings.Split(f.ValuesPath, ".") {
			if p == "" {
				return errs.Field("field.valuesPath", "%q has an empty segment", f.ValuesPath)
			}
		}
	}
	return nil
}

// Set writes value into the field of the YAML document doc, keeping its
// comments and key order. It reports whether anything changed.
func (f Field) Set(doc []byte, value string) ([]byte, bool, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, false, fmt.Errorf("parse YAML: %w", err)
	}
	if root.Kind == 0 { // an empty file
		root = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, false, fmt.Errorf("the document is not a YAML mapping")
	}
	top := root.Content[0]
	var target *yaml.Node
	var err error
	if f.KustomizeImage != "" {
		target, err = kustomizeTag(top, f.KustomizeImage)
	} else {
		target, err = valuesPath(top, strings.Split(f.ValuesPath, "."))
	}
	if err != nil {
		return nil, false, err
	}
	if target.Kind == yaml.ScalarNode && target.Value == value && target.Tag == "!!str" {
		return doc, false, nil
	}
	// Always a string: a tag like 1.10 must not become the float 1.1.
	*target = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value,
		HeadComment: target.HeadComment, LineComment: target.LineComment, FootComment: target.FootComment}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, false, fmt.Errorf("write YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, false, fmt.Errorf("write YAML: %w", err)
	}
	return buf.Bytes(), true, nil
}

// lookup returns the value node of key in mapping m, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// add appends key: value to mapping m and returns the value node.
func add(m *yaml.Node, key string, v *yaml.Node) *yaml.Node {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	return v
}

func kustomizeTag(top *yaml.Node, image string) (*yaml.Node, error) {
	images := lookup(top, "images")
	if images == nil {
		images = add(top, "images", &yaml.Node{Kind: yaml.SequenceNode})
	}
	if images.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("images is not a list")
	}
	for _, it := range images.Content {
		if it.Kind != yaml.MappingNode {
			continue
		}
		if n := lookup(it, "name"); n != nil && n.Value == image {
			if tag := lookup(it, "newTag"); tag != nil {
				return tag, nil
			}
			return add(it, "newTag", &yaml.Node{Kind: yaml.ScalarNode}), nil
		}
	}
	entry := &yaml.Node{Kind: yaml.MappingNode}
	images.Content = append(images.Content, entry)
	add(entry, "name", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: image})
	return add(entry, "newTag", &yaml.Node{Kind: yaml.ScalarNode}), nil
}

func valuesPath(m *yaml.Node, path []string) (*yaml.Node, error) {
	for i, key := range path {
		v := lookup(m, key)
		last := i == len(path)-1
		switch {
		case v == nil && last:
			return add(m, key, &yaml.Node{Kind: yaml.ScalarNode}), nil
		case v == nil:
			v = add(m, key, &yaml.Node{Kind: yaml.MappingNode})
		case last:
			if v.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s is not a scalar", strings.Join(path, "."))
			}
			return v, nil
		case v.Kind != yaml.MappingNode:
			return nil, fmt.Errorf("%s is not a mapping", strings.Join(path[:i+1], "."))
		}
		m = v
	}
	return nil, fmt.Errorf("empty path")
}
