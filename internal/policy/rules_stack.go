package policy

import (
	"encoding/base64"
	"maps"
	"regexp"
	"slices"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"slipway/stacks"
)

const (
	tZone = "aws:route53/zone:Zone"
	// anyResource documents rules that look at every resource.
	anyResource = "(every resource)"
	// stackOutputs documents rules that look at the stack outputs.
	stackOutputs = "(stack outputs)"
)

// secretName is an output name that promises a secret.
var secretName = regexp.MustCompile(`(?i)(secret|password|passwd|token|private_?key)`)

var stackRules = []Rule{
	{
		ID: "SLW-REV-001", Severity: Error, Reference: "Slipway design (review stacks are fully destroyable)",
		Title: "Review stacks protect and retain nothing",
		Fix:   "derive protect/retainOnDelete/skipDestroy from the profile (stacks.Profile.ProtectsData)",
		Types: []string{anyResource}, Profiles: []stacks.Profile{stacks.Review},
		Inputs: []string{"every resource: options protect and retainOnDelete false; " + tLogGroup + ": skipDestroy not true"},
		check: func(e *eval) {
			for _, r := range e.s.Resources {
				e.checked++
				if r.Protect || r.RetainOnDelete {
					e.fail(r, "protect=%v retainOnDelete=%v: `pulumi destroy` would leave it behind", r.Protect, r.RetainOnDelete)
				}
				if r.In("skipDestroy") == true {
					e.fail(r, "skipDestroy true")
				}
			}
		},
	},
	{
		ID: "SLW-REV-002", Severity: Error, Reference: "Slipway design (review stacks are fully destroyable)",
		Title: "Review stacks can delete non-empty buckets, repositories and zones, and leave no final snapshot",
		Fix:   "set forceDestroy (buckets, zones) / forceDelete (repositories) true and finalSnapshot false in review stacks",
		Types: []string{tBucketV2, tBucket, tRepository, tZone, tVolume}, Profiles: []stacks.Profile{stacks.Review},
		Inputs: []string{tBucketV2 + ", " + tZone + ": forceDestroy true", tRepository + ": forceDelete true",
			tVolume + ": finalSnapshot not true"},
		check: func(e *eval) {
			for _, r := range e.of(tBucketV2, tBucket, tRepository, tZone, tVolume) {
				switch r.Type {
				case tRepository:
					if r.In("forceDelete") != true {
						e.fail(r, "forceDelete not set: destroy fails while images remain")
					}
				case tVolume:
					if r.In("finalSnapshot") == true {
						e.fail(r, "finalSnapshot true: destroy leaves a snapshot that is billed")
					}
				default:
					if r.In("forceDestroy") != true {
						e.fail(r, "forceDestroy not set: destroy fails while objects or records remain")
					}
				}
			}
		},
	},
	{
		ID: "SLW-SEC-001", Severity: Error, Reference: "CKV_AWS_46",
		Title:  "No secret in user data",
		Fix:    "put secrets in SSM SecureString parameters the host reads at release time, never in user data",
		Types:  []string{tInstance, tLaunchTemplate},
		Inputs: []string{tInstance + ": userData, userDataBase64 (decoded); " + tLaunchTemplate + ": userData (base64, decoded) — none contains a secret config value"},
		check: func(e *eval) {
			for _, r := range e.of(tInstance, tLaunchTemplate) {
				texts := []string{r.UserData()}
				for _, k := range []string{"userDataBase64", "userData"} {
					if b, err := base64.StdEncoding.DecodeString(r.Str(k)); err == nil {
						texts = append(texts, string(b))
					}
				}
				for _, t := range texts {
					if e.s.leakedSecret(t) {
						e.fail(r, "user data contains a secret value")
						break
					}
				}
			}
		},
	},
	{
		ID: "SLW-SEC-002", Severity: Error, Reference: "Slipway design (secrets leave only as secret outputs)",
		Title:  "No secret in a non-secret stack output; outputs named like secrets are secret",
		Fix:    "export secrets with pulumi.ToSecret (or a secret input's output)",
		Types:  []string{stackOutputs},
		Inputs: []string{"stack outputs: not secret ⇒ no secret config value inside and name not matching secret|password|token|private_key"},
		check: func(e *eval) {
			names := slices.Sorted(maps.Keys(e.s.Outputs))
			for _, n := range names {
				o := e.s.Outputs[n]
				e.checked++
				if o.Secret {
					continue
				}
				if secretName.MatchString(n) {
					e.failName(n, "output %s is named as a secret but is not marked secret", n)
				}
				leaked := false
				plainStrings("", resource.NewPropertyValue(o.Value), func(_, s string) {
					leaked = leaked || e.s.leakedSecret(s)
				})
				if leaked {
					e.failName(n, "output %s holds a secret value in plain text", n)
				}
			}
			e.naReason = "no stack outputs"
		},
	},
	{
		ID: "SLW-SEC-003", Severity: Error, Reference: "Slipway design (no secret in plain text in state)",
		Title:  "No resource input holds a secret value outside a secret",
		Fix:    "pass secrets as secret outputs (stacks.Secret.Output()); never .ApplyT them into a plain string",
		Types:  []string{anyResource},
		Inputs: []string{"every resource: every string input not wrapped as secret must not contain a secret config value"},
		check: func(e *eval) {
			for _, r := range e.s.Resources {
				e.checked++
				var paths []string
				plainStrings("", resource.NewObjectProperty(r.Inputs), func(path, s string) {
					if e.s.leakedSecret(s) {
						paths = append(paths, path)
					}
				})
				sort.Strings(paths)
				for _, p := range paths {
					e.fail(r, "input %s holds a secret value in plain text", p)
				}
			}
		},
	},
}

// all is the whole baseline.
var all = concat(edgeRules, coreRules, opsRules, stackRules, backupRules, foundationRules)

func concat(groups ...[]Rule) []Rule {
	var out []Rule
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}
