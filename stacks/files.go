package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// OfflineSecret stands in for a secret the offline plan cannot or must not
// decrypt. It is long enough to pass validation and is always marked secret.
const OfflineSecret = "offline-plan-placeholder-secret"

// Files is a stack's config as the Pulumi CLI would hand it to the program:
// the project's defaults from Pulumi.yaml overlaid with Pulumi.<stack>.yaml.
// It lets the tests and the offline plan run the program without the CLI.
type Files struct {
	Values map[string]string
	// Secrets lists the keys that are secret; Encrypted those whose value
	// was an encrypted `secure:` entry replaced by OfflineSecret.
	Secrets   []string
	Encrypted []string
	// HasStackFile is false for a stack such as pr-42 that runs on the
	// project defaults alone.
	HasStackFile bool
	// Dir is the project directory, absolute.
	Dir string
}

// Get implements Source.
func (f Files) Get(key string) (string, bool) { v, ok := f.Values[key]; return v, ok }

// IsSecret implements Source.
func (f Files) IsSecret(key string) bool { return slices.Contains(f.Secrets, key) }

// SetSecret sets a key as a secret, as `pulumi config set --secret` would.
func (f *Files) SetSecret(key, value string) {
	f.Values[key] = value
	if !slices.Contains(f.Secrets, key) {
		f.Secrets = append(f.Secrets, key)
	}
}

type projectFile struct {
	Name   string               `yaml:"name"`
	Config map[string]yaml.Node `yaml:"config"`
}

type stackFile struct {
	Config map[string]yaml.Node `yaml:"config"`
}

// ReadFiles reads Pulumi.yaml and, if present, Pulumi.<stack>.yaml from dir.
func ReadFiles(dir, stack string) (Files, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Files{}, err
	}
	dir = abs
	f := Files{Values: map[string]string{}, Dir: dir}
	var project projectFile
	if err := readYAML(filepath.Join(dir, "Pulumi.yaml"), &project); err != nil {
		return f, err
	}
	for name, node := range project.Config {
		k := qualify(project.Name, name)
		if err := f.setProjectValue(k, node); err != nil {
			return f, fmt.Errorf("Pulumi.yaml: config %s: %w", name, err)
		}
	}
	path := filepath.Join(dir, "Pulumi."+stack+".yaml")
	var st stackFile
	switch err := readYAML(path, &st); {
	case os.IsNotExist(err):
		followDev(dir, stack, f.Values, stackFileSets(dir, stack))
		return f, nil
	case err != nil:
		return f, err
	}
	f.HasStackFile = true
	for name, node := range st.Config {
		if err := f.setStackValue(qualify(project.Name, name), node); err != nil {
			return f, fmt.Errorf("%s: config %s: %w", filepath.Base(path), name, err)
		}
	}
	followDev(dir, stack, f.Values, stackFileSets(dir, stack))
	return f, nil
}

func readYAML(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

// qualify gives a project-level key its namespace, as Pulumi does.
func qualify(project, name string) string {
	if strings.Contains(name, ":") {
		return name
	}
	return project + ":" + name
}

// setProjectValue takes a typed declaration's default (or value), or a plain
// scalar such as `aws:region: us-east-1`.
func (f *Files) setProjectValue(k string, node yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		f.Values[k] = node.Value
		return nil
	}
	var decl struct {
		Default yaml.Node `yaml:"default"`
		Value   yaml.Node `yaml:"value"`
	}
	if err := node.Decode(&decl); err != nil {
		return err
	}
	if decl.Value.Kind == yaml.MappingNode {
		// An object value such as pulumi:autonaming reaches a program
		// as JSON, as the CLI passes it.
		var obj map[string]any
		if err := decl.Value.Decode(&obj); err != nil {
			return err
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		f.Values[k] = string(b)
		return nil
	}
	for _, v := range []*yaml.Node{&decl.Value, &decl.Default} {
		if v.Kind != 0 {
			s, err := scalar(v)
			if err != nil {
				return err
			}
			f.Values[k] = s
			return nil
		}
	}
	return nil
}

// setStackValue takes a plain value, an encrypted `secure:` one, or a
// list or object (aws:allowedAccountIds), which reaches a program as JSON,
// as the CLI passes it.
func (f *Files) setStackValue(k string, node yaml.Node) error {
	if node.Kind == yaml.MappingNode {
		var enc struct {
			Secure string `yaml:"secure"`
		}
		if err := node.Decode(&enc); err == nil && enc.Secure != "" {
			f.SetSecret(k, OfflineSecret)
			f.Encrypted = append(f.Encrypted, k)
			return nil
		}
	}
	if node.Kind == yaml.MappingNode || node.Kind == yaml.SequenceNode {
		var v any
		if err := node.Decode(&v); err != nil {
			return err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("expected a scalar, a list, an object or a secure: value: %w", err)
		}
		f.Values[k] = string(b)
		return nil
	}
	s, err := scalar(&node)
	if err != nil {
		return err
	}
	f.Values[k] = s
	return nil
}

func scalar(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("expected a scalar value, found %s", kindName(n.Kind))
	}
	if n.Tag == "!!int" {
		if _, err := strconv.Atoi(n.Value); err != nil {
			return "", err
		}
	}
	return n.Value, nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "another kind"
}
