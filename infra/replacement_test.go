package infra_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// replacingInputs are, per state-bearing type, the inputs whose change
// makes the provider replace the resource (delete and create: the data,
// the address, the objects, the images, the logs, the messages, the
// record or the certificate are lost or re-issued). pulumi-aws bridges
// the Terraform AWS provider, so these are its schema's ForceNew
// attributes ("Forces new resource" in its docs; the Pulumi registry page
// of each type says "changing this forces a new resource"). Checked in
// the provider's source (hashicorp/terraform-provider-aws,
// internal/service/...) for the volume (ec2/ebs_volume.go), the Elastic
// IP (ec2/ec2_eip.go), the log group (logs/group.go) and the record
// (route53/record.go); the others from the registry docs. Every other
// input of these types is updated in place (a volume's size and type, a
// log group's retention, a queue's timeouts, a repository's scanning).
var replacingInputs = map[string][]string{
	"aws:ebs/volume:Volume": {"availabilityZone", "encrypted", "kmsKeyId", "snapshotId", "outpostArn", "multiAttachEnabled"},
	// vpc is the deprecated form of domain (ForceNew in the v5 schema).
	"aws:ec2/eip:Eip":                  {"domain", "vpc", "address", "publicIpv4Pool", "networkBorderGroup", "ipamPoolId"},
	"aws:s3/bucketV2:BucketV2":         {"bucket", "bucketPrefix", "objectLockEnabled"},
	"aws:ecr/repository:Repository":    {"name", "encryptionConfigurations"},
	"aws:cloudwatch/logGroup:LogGroup": {"name", "namePrefix", "logGroupClass"},
	"aws:sqs/queue:Queue":              {"name", "namePrefix", "fifoQueue"},
	// name and zoneId force a new record; a new type or set identifier
	// is a delete of the record set and a create of another in Update, a
	// replacement in all but name.
	"aws:route53/record:Record":       {"zoneId", "name", "type", "setIdentifier"},
	"aws:route53/zone:Zone":           {"name", "delegationSetId"},
	"aws:acm/certificate:Certificate": {"domainName", "subjectAlternativeNames", "validationMethod", "keyAlgorithm", "certificateAuthorityArn"},
}

// identity is what decides whether the engine keeps a resource: its URN,
// its provider, and the inputs that replace it (with any the program
// marks replaceOnChanges).
func identity(r mockcloud.Resource) map[string]any {
	// A provider reference is "<urn>::<id>"; a provider whose region
	// changes replaces what it manages.
	provider := r.Provider
	if i := strings.LastIndex(provider, "::"); i > 0 {
		provider = provider[:i]
	}
	id := map[string]any{"urn": r.URN, "provider": provider + " in " + r.Region}
	for _, k := range append(slices.Clone(replacingInputs[r.Type]), r.ReplaceOnChanges...) {
		id[k] = r.In(k)
	}
	return id
}

// routineChanges are the changes README presents as routine, as config
// (or source) edits on top of a stack's own config.
var routineChanges = []struct {
	name string
	edit func(t *testing.T, dir string) func(*stacks.Files)
}{
	{"instance type", func(*testing.T, string) func(*stacks.Files) {
		return func(f *stacks.Files) { f.Values["slipway:instanceType"] = "t4g.large" }
	}},
	{"log retention", func(*testing.T, string) func(*stacks.Files) {
		return func(f *stacks.Files) { f.Values["slipway:logRetentionDays"] = "30" }
	}},
	{"alarm email", func(*testing.T, string) func(*stacks.Files) {
		return func(f *stacks.Files) { f.Values["slipway:alarmEmail"] = "oncall@example.org" }
	}},
	{"images", func(t *testing.T, dir string) func(*stacks.Files) {
		// A new API build: new source, new tag, new digest.
		server := filepath.Join(dir, "app", "api", "src", "server.js")
		f, err := os.OpenFile(server, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString("\n// a new API build\n"); err != nil {
			t.Fatal(err)
		}
		return func(*stacks.Files) {}
	}},
	{"Datadog on", func(*testing.T, string) func(*stacks.Files) { return withDatadog }},
	{"secret rotation", func(*testing.T, string) func(*stacks.Files) {
		return func(f *stacks.Files) {
			f.SetSecret("slipway:dbPassword", "a-rotated-db-password-7d1e")
			f.SetSecret("slipway:originSecret", "a-rotated-origin-secret-3a9c")
			if _, ok := f.Values["slipway:datadogApiKey"]; ok {
				f.SetSecret("slipway:datadogApiKey", "a-rotated-datadog-key-55e1")
			}
		}
	}},
}

// statefulIdentities indexes a run's state-bearing resources by URN.
func statefulIdentities(res *mockcloud.Result) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, r := range res.Resources {
		if _, ok := replacingInputs[r.Type]; ok {
			out[r.URN] = identity(r)
		}
	}
	return out
}

// diffIdentities lists what would replace or delete a state-bearing
// resource between two runs.
func diffIdentities(before, after map[string]map[string]any) []string {
	var out []string
	for urn, a := range before {
		b, ok := after[urn]
		if !ok {
			out = append(out, urn+" is gone (deleted)")
			continue
		}
		for k, v := range a {
			if !reflect.DeepEqual(v, b[k]) {
				out = append(out, urn+": "+k+" changes (replaced)")
			}
		}
	}
	slices.Sort(out)
	return out
}

// None of README's routine changes replaces or deletes a state-bearing
// resource, in dev, prod or a review stack. Datadog off is Datadog on
// run backwards: the same pair of runs.
func TestRoutineChangesReplaceNoStatefulResource(t *testing.T) {
	for _, stack := range allStacks {
		for _, change := range routineChanges {
			dir := copyProject(t)
			inDir := func(f *stacks.Files) { f.Dir = dir }
			base := deploy(t, stack, inDir)
			before := statefulIdentities(base)
			edit := change.edit(t, dir)
			changed := deploy(t, stack, inDir, edit)
			after := statefulIdentities(changed)
			if len(before) < 8 {
				t.Fatalf("%s: only %d state-bearing resources", stack, len(before))
			}
			// The change is real: a resource is added or removed, or its inputs differ.
			moved := len(base.Resources) != len(changed.Resources)
			byURN := changed.ByURN()
			for _, r := range base.Resources {
				moved = moved || !reflect.DeepEqual(r.Inputs, byURN[r.URN].Inputs)
			}
			if !moved {
				t.Errorf("%s, %s: the change changes nothing: the test shows nothing", stack, change.name)
			}
			for _, d := range diffIdentities(before, after) {
				t.Errorf("%s, %s: %s", stack, change.name, d)
			}
			for _, d := range diffIdentities(after, before) {
				if strings.HasSuffix(d, "(deleted)") {
					t.Errorf("%s, %s: reverting it: %s", stack, change.name, d)
				}
			}
		}
	}
}

// Each state-bearing type is in the stacks (so the check above is not
// vacuous), and the comparison sees a replacing change when there is one.
func TestReplacementCheckSeesReplacingChanges(t *testing.T) {
	prod := deploy(t, "prod")
	for typ := range replacingInputs {
		if typ == "aws:route53/zone:Zone" {
			continue // only with createHostedZone (TestCreatedZoneExportsItsNameServers)
		}
		if len(prod.ByType(typ)) == 0 {
			t.Errorf("prod has no %s: the table names a type the stack does not create", typ)
		}
	}
	before := statefulIdentities(prod)
	for _, tc := range []struct {
		edit func(*stacks.Files)
		want string
	}{
		// A new domain re-issues the certificate and moves the records.
		{func(f *stacks.Files) {
			f.Values["slipway:domain"] = "shop.example.com"
			f.Values["slipway:hostedZone"] = "example.com"
		}, "acm/certificate:Certificate::domain: domainName changes"},
		// A region is a new provider: everything is created anew there.
		{func(f *stacks.Files) { f.Values["aws:region"] = "eu-west-1" }, "ebs/volume:Volume::data: provider changes"},
	} {
		diff := diffIdentities(before, statefulIdentities(deploy(t, "prod", tc.edit)))
		found := false
		for _, d := range diff {
			found = found || strings.Contains(d, tc.want)
		}
		if !found {
			t.Errorf("the check misses %q: %v", tc.want, diff)
		}
	}
}
