package plan

import (
	"bytes"
	"encoding/json"
	"io"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"slipway/internal/cost"
	"slipway/internal/mockcloud"
	"slipway/internal/policy"
)

// SecretSig is the key Pulumi marks secret values with in a state export;
// its value is SecretSigValue.
const (
	SecretSig      = "4dabf18193072939515e22adb298388d"
	SecretSigValue = "1b47061264138c4ac30d75fd1eb44270"
	// Masked is the ciphertext the plan writes for every secret: nothing
	// was encrypted, nothing is revealed.
	Masked = "[secret]"
	// UnknownValue is how Pulumi writes a value unknown during a preview.
	UnknownValue = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
	// ManifestTime is fixed so two plans of the same code diff cleanly.
	ManifestTime = "1970-01-01T00:00:00Z"
)

// Export is the JSON document: `pulumi stack export` plus Slipway's verdicts.
type Export struct {
	Version    int            `json:"version"`
	Deployment Deployment     `json:"deployment"`
	Slipway    SlipwaySection `json:"slipway"`
}

// Deployment is the deployment section of a stack export (version 3).
type Deployment struct {
	Manifest  Manifest         `json:"manifest"`
	Resources []ExportResource `json:"resources"`
}

// Manifest is fixed: time at the epoch, magic and version naming the plan.
type Manifest struct {
	Time    string `json:"time"`
	Magic   string `json:"magic"`
	Version string `json:"version"`
}

// ExportResource is one resource as a stack export writes it.
type ExportResource struct {
	URN                  string              `json:"urn"`
	Custom               bool                `json:"custom"`
	ID                   string              `json:"id,omitempty"`
	Type                 string              `json:"type"`
	Inputs               map[string]any      `json:"inputs"`
	Outputs              map[string]any      `json:"outputs"`
	Parent               string              `json:"parent,omitempty"`
	Dependencies         []string            `json:"dependencies"`
	PropertyDependencies map[string][]string `json:"propertyDependencies"`
	Protect              bool                `json:"protect"`
	RetainOnDelete       bool                `json:"retainOnDelete"`
	Provider             string              `json:"provider,omitempty"`
}

// SlipwaySection is what the plan adds to the export.
type SlipwaySection struct {
	Project string `json:"project"`
	Stack   string `json:"stack"`
	Profile string `json:"profile"`
	Region  string `json:"region"`
	// AllowedAccountIDs is the account pin of every provider.
	AllowedAccountIDs []string       `json:"allowedAccountIds"`
	HasStackFile      bool           `json:"hasStackFile"`
	Placeholders      []Placeholder  `json:"placeholders"`
	Policy            PolicySection  `json:"policy"`
	Cost              cost.Estimate  `json:"cost"`
	Outputs           map[string]any `json:"outputs"`
	Notes             []string       `json:"notes"`
}

// PolicySection holds the verdicts.
type PolicySection struct {
	Summary policy.Summary  `json:"summary"`
	Results []policy.Result `json:"results"`
}

// ToExport builds the export document.
func (p *Plan) ToExport() Export {
	outputs := map[string]any{}
	for name, o := range p.Result.Outputs {
		v := resource.NewPropertyValue(o.Value)
		if o.Secret {
			v = resource.MakeSecret(v)
		}
		outputs[name] = exportValue(v)
	}
	resources := []ExportResource{{
		URN: p.StackURN(), Type: "pulumi:pulumi:Stack", Inputs: map[string]any{}, Outputs: outputs,
		Dependencies: []string{}, PropertyDependencies: map[string][]string{},
	}}
	for _, r := range p.Result.Resources {
		resources = append(resources, exportResource(r))
	}
	sort.SliceStable(resources, func(i, j int) bool { return resources[i].URN < resources[j].URN })
	placeholders := p.Placeholders
	if placeholders == nil {
		placeholders = []Placeholder{}
	}
	return Export{
		Version: 3,
		Deployment: Deployment{
			Manifest:  Manifest{Time: ManifestTime, Magic: "slipway-offline-plan", Version: "slipway plan (Pulumi mocks, preview)"},
			Resources: resources,
		},
		Slipway: SlipwaySection{
			Project: p.Project, Stack: p.Stack, Profile: string(p.Profile), Region: p.Region,
			AllowedAccountIDs: p.AllowedAccountIDs, HasStackFile: p.HasStackFile, Placeholders: placeholders,
			Policy:  PolicySection{Summary: p.Summary, Results: p.Policy},
			Cost:    p.Cost,
			Outputs: outputs,
			Notes: []string{
				"offline plan: the real program run under Pulumi mocks as a preview; IDs, ARNs and names are synthesized and deterministic",
				"secrets are masked as Pulumi marks them in exports: {\"" + SecretSig + "\": \"" + SecretSigValue + "\", \"ciphertext\": \"" + Masked + "\"}",
				"manifest.time is fixed at " + ManifestTime + " so two plans of the same code are byte-identical",
			},
		},
	}
}

func exportResource(r mockcloud.Resource) ExportResource {
	deps := r.Dependencies
	if deps == nil {
		deps = []string{}
	}
	pdeps := r.PropertyDependencies
	if pdeps == nil {
		pdeps = map[string][]string{}
	}
	return ExportResource{
		URN: r.URN, Custom: r.Custom, ID: r.ID, Type: r.Type,
		Inputs: exportMap(r.Inputs), Outputs: exportMap(r.Outputs),
		Parent: r.Parent, Dependencies: deps, PropertyDependencies: pdeps,
		Protect: r.Protect, RetainOnDelete: r.RetainOnDelete, Provider: r.Provider,
	}
}

func exportMap(m resource.PropertyMap) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[string(k)] = exportValue(v)
	}
	return out
}

// exportValue turns a property value into its export JSON, secrets masked.
func exportValue(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return map[string]any{SecretSig: SecretSigValue, "ciphertext": Masked}
	case v.IsComputed():
		return UnknownValue
	case v.IsOutput():
		o := v.OutputValue()
		switch {
		case o.Secret:
			return map[string]any{SecretSig: SecretSigValue, "ciphertext": Masked}
		case !o.Known:
			return UnknownValue
		}
		return exportValue(o.Element)
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = exportValue(e)
		}
		return out
	case v.IsObject():
		return exportMap(v.ObjectValue())
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	case v.IsAsset():
		return map[string]any{"hash": v.AssetValue().Hash}
	case v.IsArchive():
		return map[string]any{"hash": v.ArchiveValue().Hash}
	}
	return nil
}

// WriteJSON writes the export, indented, with a final newline. Map keys
// are sorted by encoding/json and resources are in URN order, so two runs
// are byte-identical.
func (p *Plan) WriteJSON(w io.Writer) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p.ToExport()); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}
