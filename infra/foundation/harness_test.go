package foundation_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"slipway/infra/foundation"
	"slipway/internal/mockcloud"
	"slipway/program"
	"slipway/stacks"
)

const acct = mockcloud.Account

// Secrets as `pulumi config set --secret` would store them for the app
// stacks (their files hold none).
const (
	testDBPassword   = "test-db-password-0f9c2e7a"
	testOriginSecret = "test-origin-secret-5b1d8e3c"
)

// foundationFiles reads foundation/Pulumi.yaml and Pulumi.<stack>.yaml.
func foundationFiles(t *testing.T, stack string) stacks.Files {
	t.Helper()
	files, err := stacks.ReadFiles("../../foundation", stack)
	if err != nil {
		t.Fatal(err)
	}
	if !files.HasStackFile {
		t.Fatalf("foundation stack %s has no stack file", stack)
	}
	return files
}

// runFoundation runs the foundation program for one of its example
// stacks (dev, prod, single) under mocks.
func runFoundation(t *testing.T, stack string, edits ...func(*stacks.Files)) *mockcloud.Result {
	t.Helper()
	files := foundationFiles(t, stack)
	for _, e := range edits {
		e(&files)
	}
	res, err := mockcloud.Run(foundation.Build, foundation.Project, stack, files, false)
	if err != nil {
		t.Fatalf("foundation %s: %v", stack, err)
	}
	return res
}

// deployApp runs the app program for one of its stacks (dev, prod, pr-7).
func deployApp(t *testing.T, stack string, edits ...func(*stacks.Files)) *mockcloud.Result {
	t.Helper()
	files, err := stacks.ReadFiles("../..", stack)
	if err != nil {
		t.Fatal(err)
	}
	files.SetSecret("slipway:dbPassword", testDBPassword)
	files.SetSecret("slipway:originSecret", testOriginSecret)
	files.Values["slipway:spaBuildDir"] = "infra/testdata/spa"
	for _, e := range edits {
		e(&files)
	}
	res, err := mockcloud.Run(program.Build, "slipway", stack, files, false)
	if err != nil {
		t.Fatalf("%s: %v", stack, err)
	}
	return res
}

var strs = mockcloud.Strings

// iamSize is a policy's size as IAM counts it: without whitespace.
func iamSize(doc string) int {
	return len(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, doc))
}

func parseDoc(t *testing.T, raw string) iamDoc {
	t.Helper()
	var d iamDoc
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatalf("not a policy document: %v\n%s", err, raw)
	}
	return d
}

// rolePolicies merges the managed policies attached to a CI role.
func rolePolicies(t *testing.T, res *mockcloud.Result, role string) iamDoc {
	t.Helper()
	var arns []string
	for _, a := range res.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
		if a.Str("role") == role {
			arns = append(arns, a.Str("policyArn"))
		}
	}
	var doc iamDoc
	for _, p := range res.ByType("aws:iam/policy:Policy") {
		for _, a := range arns {
			if p.Out("arn") == a {
				doc.Statement = append(doc.Statement, parseDoc(t, p.Str("policy")).Statement...)
			}
		}
	}
	if len(doc.Statement) == 0 {
		t.Fatalf("%s: no policies attached to %s", res.Stack, role)
	}
	return doc
}

// boundaryDoc is a class's boundary document in a foundation run.
func boundaryDoc(t *testing.T, res *mockcloud.Result, class stacks.Profile) iamDoc {
	t.Helper()
	for _, p := range res.ByType("aws:iam/policy:Policy") {
		if p.Str("name") == foundation.BoundaryName(class) {
			return parseDoc(t, p.Str("policy"))
		}
	}
	t.Fatalf("%s: no boundary for %s", res.Stack, class)
	return iamDoc{}
}
