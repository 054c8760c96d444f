package infra_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/internal/mockcloud"
	"slipway/program"
	"slipway/stacks"
)

// stashState carries Stash resources from one run of the program to the
// next, as the engine's state does, with the engine's rules for them
// (pkg/resource/deploy/builtins.go): created, output = input; updated (a
// new input), output kept; replaced (replaceOnChanges on input), output =
// the new input. Everything else is the ordinary offline cloud.
type stashState struct {
	mu    sync.Mutex
	state map[string]resource.PropertyMap // stash name -> outputs
}

type stashCloud struct {
	*mockcloud.Cloud
	s *stashState
}

func (c stashCloud) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	id, outputs, err := c.Cloud.NewResource(args)
	if err != nil || args.TypeToken != "pulumi:index:Stash" {
		return id, outputs, err
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	input := args.Inputs["input"]
	output := input
	if old, ok := c.s.state[args.Name]; ok {
		replaced := slices.Contains(args.RegisterRPC.GetReplaceOnChanges(), "input") && !old["input"].DeepEquals(input)
		if !replaced {
			output = old["output"]
		}
	}
	outputs = resource.PropertyMap{"input": input, "output": output}
	c.s.state[args.Name] = outputs
	return id, outputs, nil
}

// upAgain runs the program for a stack as one more `pulumi up` on the
// same state; it returns the recorded resources, or the program's error.
func (s *stashState) upAgain(t *testing.T, stack string, edit func(*stacks.Files)) ([]mockcloud.Resource, error) {
	t.Helper()
	files := stackFiles(t, stack)
	edit(&files)
	cloud := stashCloud{mockcloud.New("slipway", stack, files.Values["aws:region"]), s}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		out, err := program.Build(ctx)
		for name, o := range out {
			ctx.Export(name, o)
		}
		return err
	}, func(info *pulumi.RunInfo) {
		pulumi.WithMocks("slipway", stack, cloud)(info)
		info.RootDirectory = files.Dir
		info.Config = files.Values
		info.ConfigSecretKeys = files.Secrets
	})
	return cloud.Resources(), err
}

func instanceOf(t *testing.T, resources []mockcloud.Resource) mockcloud.Resource {
	t.Helper()
	for _, r := range resources {
		if r.Type == "aws:ec2/instance:Instance" {
			return r
		}
	}
	t.Fatal("no instance")
	return mockcloud.Resource{}
}

// A change of slipway:architecture with an empty hostAmi would keep the
// old architecture's AMI (AMI changes are ignored, on replacement too), so
// it is refused with how to roll the host; pinning an AMI of the new
// architecture rolls it; emptying hostAmi afterwards keeps it. Run as
// successive `pulumi up`s on one state.
func TestArchitectureChangeRollsTheHostOrIsRefused(t *testing.T) {
	st := &stashState{state: map[string]resource.PropertyMap{}}
	arm := func(f *stacks.Files) {}
	x86 := func(f *stacks.Files) {
		f.Values["slipway:architecture"] = "x86_64"
		f.Values["slipway:instanceType"] = "t3.small"
	}
	pinned := func(f *stacks.Files) {
		x86(f)
		f.Values["slipway:hostAmi"] = "ami-0123456789abcdef0"
	}

	first, err := st.upAgain(t, "dev", arm)
	if err != nil {
		t.Fatal(err)
	}
	armAMI := instanceOf(t, first).Str("ami")
	if again, err := st.upAgain(t, "dev", arm); err != nil || instanceOf(t, again).Str("ami") != armAMI {
		t.Fatalf("an unchanged stack: %v", err)
	}

	_, err = st.upAgain(t, "dev", x86)
	if err == nil {
		t.Fatal("architecture changed with an empty hostAmi: accepted, the host would keep its arm64 image")
	}
	for _, want := range []string{"slipway:architecture changed from arm64 to x86_64", "slipway:hostAmi", "x86_64 AMI", "replaces the host"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	// The refusal names the image to pin: the newest for x86_64.
	if !strings.Contains(err.Error(), "is ami-") || strings.Contains(err.Error(), "is "+armAMI) {
		t.Errorf("refusal does not name the newest x86_64 AMI: %v", err)
	}
	// Refused again on the next try: nothing was recorded as rolled.
	if _, err := st.upAgain(t, "dev", x86); err == nil {
		t.Fatal("a second try was accepted without a pinned AMI")
	}

	rolled, err := st.upAgain(t, "dev", pinned)
	if err != nil {
		t.Fatalf("pinning an x86_64 AMI: %v", err)
	}
	host := instanceOf(t, rolled)
	if host.Str("ami") != "ami-0123456789abcdef0" || host.Str("instanceType") != "t3.small" || len(host.IgnoreChanges) != 0 {
		t.Errorf("the pinned host: ami %s, type %s, ignoreChanges %v", host.Str("ami"), host.Str("instanceType"), host.IgnoreChanges)
	}
	if _, err := st.upAgain(t, "dev", x86); err != nil {
		t.Errorf("hostAmi emptied after the roll: %v", err)
	}
	// And back to arm64 the same way.
	if _, err := st.upAgain(t, "dev", arm); err == nil || !strings.Contains(err.Error(), "from x86_64 to arm64") {
		t.Errorf("back to arm64 with an empty hostAmi: %v", err)
	}
}

func TestHostReadsItsTagsFromIMDS(t *testing.T) {
	for _, stack := range allStacks {
		host := one(t, deploy(t, stack), "aws:ec2/instance:Instance")
		if got := host.In("metadataOptions.instanceMetadataTags"); got != "enabled" {
			t.Errorf("%s: instanceMetadataTags = %v: the host documents read the stack tag from IMDS", stack, got)
		}
		if got := host.In("metadataOptions.httpPutResponseHopLimit"); got != 2.0 {
			t.Errorf("%s: hop limit %v: the API and the worker reach IMDS from containers (one hop behind the bridge)", stack, got)
		}
	}
}
