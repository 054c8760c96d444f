package infra_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// A resource's URN is its identity to the engine: a URN that changes is a
// delete of the old resource and a create of a new one. So every URN of
// dev, prod and pr-7 is committed in testdata/urns/<stack>.txt (with its
// parent), and TestURNsAreStable fails on any difference. A change that
// adds, removes, renames or re-parents a resource regenerates the lists
// in the same commit, so the review sees every identity change:
//
//	go test ./infra/ -run TestURNsAreStable -update
//
// (or SLIPWAY_UPDATE_URNS=1 go test ./infra/ -run TestURNsAreStable).
var updateURNs = flag.Bool("update", os.Getenv("SLIPWAY_UPDATE_URNS") == "1",
	"rewrite infra/testdata/urns/<stack>.txt from the program (TestURNsAreStable)")

const urnRegenerate = "go test ./infra/ -run TestURNsAreStable -update"

// urnList renders a run's resources, one a line: the URN, a tab and its
// parent's URN (the stack for top-level resources), in URN order.
func urnList(res *mockcloud.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Every resource of stack %s: URN<TAB>parent. Regenerate: %s\n", res.Stack, urnRegenerate)
	for _, r := range res.Resources {
		fmt.Fprintf(&b, "%s\t%s\n", r.URN, r.Parent)
	}
	return b.String()
}

func TestURNsAreStable(t *testing.T) {
	for _, stack := range allStacks {
		got := urnList(deploy(t, stack))
		path := filepath.Join("testdata", "urns", stack+".txt")
		if *updateURNs {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (generate it: %s)", stack, err, urnRegenerate)
		}
		want := string(raw)
		if got == want {
			continue
		}
		gotLines, wantLines := strings.Split(got, "\n"), strings.Split(want, "\n")
		for _, l := range wantLines {
			if !slices.Contains(gotLines, l) {
				t.Errorf("%s: gone or moved: %s", stack, l)
			}
		}
		for _, l := range gotLines {
			if !slices.Contains(wantLines, l) {
				t.Errorf("%s: new or moved: %s", stack, l)
			}
		}
		t.Errorf("%s: the URNs differ from %s. A URN that changes is a delete and a create: add an alias "+
			"(pulumi.Aliases) for a moved resource, then regenerate the list in the same commit: %s", stack, path, urnRegenerate)
	}
}

// pinned are the state-bearing resources no refactor may replace or
// delete, per stack, as type chain::name below urn:pulumi:<stack>::slipway::.
// Unlike testdata/urns, this list is not regenerated: a change here is a
// decision, made by hand, with an alias from the old URN.
var pinned = map[string][]string{
	"pr-7": {
		"slipway:data:DataVolume$aws:ebs/volume:Volume::data",
		"slipway:host:Host$aws:ec2/eip:Eip::host",
		"slipway:site:Site$aws:s3/bucketV2:BucketV2::site",
		"slipway:registry:Registry$aws:ecr/repository:Repository::api",
		"slipway:registry:Registry$aws:ecr/repository:Repository::db",
		"slipway:registry:Registry$aws:ecr/repository:Repository::proxy",
		"slipway:queue:Queue$aws:sqs/queue:Queue::queue",
		"slipway:queue:Queue$aws:sqs/queue:Queue::queue-dead-letter",
	},
}

// pinnedTypes are the types whose every resource must be pinned.
var pinnedTypes = []string{
	"aws:ebs/volume:Volume", "aws:ec2/eip:Eip", "aws:s3/bucketV2:BucketV2", "aws:ecr/repository:Repository",
	"aws:sqs/queue:Queue", "aws:route53/record:Record", "aws:route53/zone:Zone",
}

func init() {
	// dev and prod pin the same, and their DNS records.
	dns := []string{
		"slipway:dns:Domain$aws:route53/record:Record::domain-apex-A",
		"slipway:dns:Domain$aws:route53/record:Record::domain-apex-AAAA",
		"slipway:dns:Domain$aws:route53/record:Record::domain-www-A",
		"slipway:dns:Domain$aws:route53/record:Record::domain-www-AAAA",
		"slipway:dns:Domain$aws:route53/record:Record::domain-validation-apex",
		"slipway:dns:Domain$aws:route53/record:Record::domain-validation-www",
	}
	for _, stack := range []string{"dev", "prod"} {
		pinned[stack] = append(slices.Clone(pinned["pr-7"]), dns...)
	}
	// prod's continuous archive (issue 14): Object Lock holds it anyway,
	// but a refactor must not even try to replace it.
	pinned["prod"] = append(pinned["prod"], "slipway:backup:Backups$aws:s3/bucketV2:BucketV2::backup")
}

func pinnedURN(stack, suffix string) string { return "urn:pulumi:" + stack + "::slipway::" + suffix }

// knownAs is every URN each recorded resource answers to: its own, its
// declared aliases, and the aliases it inherits from its parent chain (the
// engine gives a child, for each alias of its parent, the URN it would
// have under that parent; a child named after its parent is renamed with
// it).
func knownAs(res *mockcloud.Result) map[string]string {
	byURN := res.ByURN()
	var aliasesOf func(r mockcloud.Resource) []string
	aliasesOf = func(r mockcloud.Resource) []string {
		out := slices.Clone(r.Aliases)
		parent, ok := byURN[r.Parent]
		if !ok {
			return out
		}
		for _, pa := range append([]string{parent.URN}, aliasesOf(parent)...) {
			name := r.Name
			if old := resource.URN(pa).Name(); old != parent.Name && strings.HasPrefix(name, parent.Name) {
				name = old + strings.TrimPrefix(name, parent.Name)
			}
			alias := string(resource.NewURN(tokens.QName(res.Stack), "slipway", resource.URN(pa).QualifiedType(), tokens.Type(r.Type), name))
			if alias != r.URN {
				out = append(out, alias)
			}
		}
		return out
	}
	m := map[string]string{}
	for _, r := range res.Resources {
		m[r.URN] = r.URN
		for _, a := range aliasesOf(r) {
			m[a] = r.URN
		}
	}
	return m
}

// checkPinned reports every pinned URN the run neither has nor aliases,
// and every resource of a pinned type that is not pinned.
func checkPinned(res *mockcloud.Result, want []string) []string {
	var problems []string
	known := knownAs(res)
	urns := map[string]bool{}
	for _, suffix := range want {
		urn := pinnedURN(res.Stack, suffix)
		urns[urn] = true
		now, ok := known[urn]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is gone and no resource has it as an alias: the engine would delete it", urn))
			continue
		}
		urns[now] = true
	}
	for _, r := range res.Resources {
		if slices.Contains(pinnedTypes, r.Type) && !urns[r.URN] {
			problems = append(problems, fmt.Sprintf("%s holds state and is not pinned: add it to pinned", r.URN))
		}
	}
	return problems
}

// The data volume, the Elastic IP, the bucket, the repositories, the
// queues and the DNS records keep their URNs (or are aliased from them).
func TestStatefulURNsArePinned(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		for _, p := range checkPinned(res, pinned[stack]) {
			t.Errorf("%s: %s", stack, p)
		}
	}
	// A created zone is pinned as well.
	res := deploy(t, "prod", func(f *stacks.Files) { f.Values["slipway:createHostedZone"] = "true" })
	for _, p := range checkPinned(res, append(slices.Clone(pinned["prod"]), "slipway:dns:Domain$aws:route53/zone:Zone::domain")) {
		t.Errorf("prod with a created zone: %s", p)
	}
}

// The data component was renamed from slipway:data:Volume to
// slipway:data:DataVolume; its alias keeps the volume it holds.
func TestDataVolumeRenameIsAliased(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		comp, ok := res.Find("slipway:data:DataVolume", "data")
		if !ok {
			t.Fatalf("%s: no data component", stack)
		}
		old := "urn:pulumi:" + stack + "::slipway::slipway:data:Volume::data"
		if !slices.Contains(comp.Aliases, old) {
			t.Errorf("%s: data component aliases %v, want %s", stack, comp.Aliases, old)
		}
		oldVolume := "urn:pulumi:" + stack + "::slipway::slipway:data:Volume$aws:ebs/volume:Volume::data"
		vol := one(t, res, "aws:ebs/volume:Volume")
		if got := knownAs(res)[oldVolume]; got != vol.URN {
			t.Errorf("%s: the volume's URN before the rename resolves to %q, want %s", stack, got, vol.URN)
		}
	}
}

// aliasProgram is a small stand-in for a refactor: a bucket inside a
// component "store", moved (v2) into a component "archive" of another
// type, with or without an alias from where it was.
func aliasProgram(version int, alias bool) mockcloud.BuildFunc {
	return func(ctx *pulumi.Context) (pulumi.Map, error) {
		typ, name := "slipway:test:Store", "store"
		if version == 2 {
			typ, name = "slipway:test:Archive", "archive"
		}
		parent := &struct{ pulumi.ResourceState }{}
		if err := ctx.RegisterComponentResource(typ, name, parent); err != nil {
			return nil, err
		}
		opts := []pulumi.ResourceOption{pulumi.Parent(parent)}
		if version == 2 && alias {
			opts = append(opts, pulumi.Aliases([]pulumi.Alias{{
				ParentURN: pulumi.URN("urn:pulumi:" + ctx.Stack() + "::slipway::slipway:test:Store::store"),
			}}))
		}
		var bucket pulumi.CustomResourceState
		if err := ctx.RegisterResource("aws:s3/bucketV2:BucketV2", "kept", pulumi.Map{}, &bucket, opts...); err != nil {
			return nil, err
		}
		return pulumi.Map{}, ctx.RegisterResourceOutputs(parent, pulumi.Map{})
	}
}

// A re-parented resource keeps its identity only through an alias: the
// recorded alias is its old URN, and the pin check accepts the move with
// the alias and refuses it without.
func TestReparentedResourceKeepsItsURNThroughAnAlias(t *testing.T) {
	run := func(version int, alias bool) *mockcloud.Result {
		res, err := mockcloud.Run(aliasProgram(version, alias), "slipway", "dev", stacks.Files{Values: map[string]string{}}, false)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	before := run(1, false)
	old, ok := before.Find("aws:s3/bucketV2:BucketV2", "kept")
	if !ok || old.URN != "urn:pulumi:dev::slipway::slipway:test:Store$aws:s3/bucketV2:BucketV2::kept" {
		t.Fatalf("v1 bucket %q", old.URN)
	}
	suffix := strings.TrimPrefix(old.URN, "urn:pulumi:dev::slipway::")

	moved := run(2, true)
	now, _ := moved.Find("aws:s3/bucketV2:BucketV2", "kept")
	if now.URN == old.URN {
		t.Fatal("the refactor did not change the URN; the test shows nothing")
	}
	if !slices.Equal(now.Aliases, []string{old.URN}) {
		t.Errorf("recorded aliases %v, want [%s]", now.Aliases, old.URN)
	}
	if p := checkPinned(moved, []string{suffix}); len(p) != 0 {
		t.Errorf("with the alias: %v", p)
	}
	if p := checkPinned(run(2, false), []string{suffix}); len(p) == 0 {
		t.Error("without the alias the moved bucket passes the pin check")
	}
}
