package infra_test

import (
	"encoding/json"
	"testing"

	"slipway/internal/mockcloud"
	"slipway/program"
	"slipway/stacks"
)

// Secrets as `pulumi config set --secret` (or `slipway review up`) would
// store them; the stack files hold none.
const (
	testDBPassword   = "test-db-password-0f9c2e7a"
	testOriginSecret = "test-origin-secret-5b1d8e3c"
	// fixtureSPA is a small Vite build, relative to the project.
	fixtureSPA = "infra/testdata/spa"
)

// stackFiles reads the real Pulumi.yaml and Pulumi.<stack>.yaml.
func stackFiles(t *testing.T, stack string) stacks.Files {
	t.Helper()
	files, err := stacks.ReadFiles("..", stack)
	if err != nil {
		t.Fatal(err)
	}
	files.SetSecret("slipway:dbPassword", testDBPassword)
	files.SetSecret("slipway:originSecret", testOriginSecret)
	// A simulated `up` needs an SPA build, as a real one does (site.go);
	// app/web/dist exists only after the workload's build, so every test
	// deploys the small fixture build unless it says otherwise.
	files.Values["slipway:spaBuildDir"] = fixtureSPA
	return files
}

// deploy runs the whole program (program.Build, as main.go does) for a
// stack under mocks, with optional config edits.
func deploy(t *testing.T, stack string, edits ...func(*stacks.Files)) *mockcloud.Result {
	t.Helper()
	files := stackFiles(t, stack)
	for _, edit := range edits {
		edit(&files)
	}
	res, err := mockcloud.Run(program.Build, "slipway", stack, files, false)
	if err != nil {
		t.Fatalf("%s: %v", stack, err)
	}
	return res
}

// allStacks are the three profiles every property is checked on.
var allStacks = []string{"dev", "prod", "pr-7"}

func one(t *testing.T, res *mockcloud.Result, typ string) mockcloud.Resource {
	t.Helper()
	found := res.ByType(typ)
	if len(found) != 1 {
		t.Fatalf("%s: want exactly one %s, found %d", res.Stack, typ, len(found))
	}
	return found[0]
}

// policy parses an IAM policy document held in an input.
type policyDoc struct {
	Statement []struct {
		Sid       string
		Effect    string
		Action    any
		Resource  any
		Principal any
		Condition map[string]map[string]any
	}
}

func parsePolicy(t *testing.T, doc string) policyDoc {
	t.Helper()
	var p policyDoc
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatalf("policy is not JSON: %v\n%s", err, doc)
	}
	return p
}

// strs normalises an IAM "string or list" field.

// strs normalises an IAM "string or list" field.
var strs = mockcloud.Strings

// prodOnly returns the resources of a type, failing the test when a stack
// other than prod has any (prod-only features: flow logs, snapshots, access
// logs).
func prodOnly(t *testing.T, res *mockcloud.Result, typ string) []mockcloud.Resource {
	t.Helper()
	found := res.ByType(typ)
	if res.Stack != "prod" && len(found) != 0 {
		t.Errorf("%s: %d %s outside prod", res.Stack, len(found), typ)
	}
	return found
}
