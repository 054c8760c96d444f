package foundation_test

import (
	"strings"
	"testing"

	"slipway/infra"
	"slipway/infra/foundation"
	"slipway/internal/mockcloud"
)

// statementCalls turns one statement of a role's own policy into the
// calls it permits: each action on each resource (a wildcard resource is
// taken literally, so the boundary must match the whole pattern), with
// the statement's conditions as the request context.
func statementCalls(t *testing.T, st iamStatement) []iamCall {
	t.Helper()
	if st.Effect != "Allow" || st.NotAction != nil || st.NotResource != nil {
		t.Fatalf("role statement %s: only plain Allow statements are modelled", st.Sid)
	}
	ctx := map[string][]string{}
	for op, keys := range st.Condition {
		if op != "StringEquals" && op != "ArnEquals" {
			t.Fatalf("role statement %s: condition %s not modelled", st.Sid, op)
		}
		for k, v := range keys {
			ctx[k] = strs(v)
		}
	}
	var calls []iamCall
	for _, a := range strs(st.Action) {
		for _, r := range strs(st.Resource) {
			calls = append(calls, iamCall{Action: a, ARN: r, Context: ctx})
		}
	}
	return calls
}

// managedPolicyCalls are the calls of the AWS-managed policies the app
// program attaches to its roles, as far as the boundary lets them, on the
// stack's own resources (tagged with its stack, snapshots with the
// volume's tags, which DLM copies).
func managedPolicyCalls(t *testing.T, res *mockcloud.Result, policyARN string) []iamCall {
	region := firstOf(t, res, "aws:ec2/vpc:Vpc").Region
	own := tagged(res.Stack)
	backup := merge(own, map[string][]string{"aws:ResourceTag/" + foundation.BackupTag: {"slipway-" + res.Stack}})
	var calls []iamCall
	switch policyARN {
	case "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore":
		for _, a := range foundation.SSMAgentActions {
			calls = append(calls, iamCall{Action: a, ARN: "*"})
		}
	case "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole":
		snap := "arn:aws:ec2:" + region + "::snapshot/snap-1"
		calls = append(calls,
			iamCall{Action: "ec2:CreateSnapshot", ARN: "arn:aws:ec2:" + region + ":" + acct + ":volume/vol-1", Context: own},
			iamCall{Action: "ec2:CreateSnapshot", ARN: snap},
			iamCall{Action: "ec2:CreateSnapshots", ARN: "arn:aws:ec2:" + region + ":" + acct + ":instance/i-1", Context: own},
			iamCall{Action: "ec2:CreateSnapshots", ARN: snap},
			iamCall{Action: "ec2:CreateTags", ARN: snap},
			iamCall{Action: "ec2:CreateTags", ARN: snap, Context: own},
			iamCall{Action: "ec2:DeleteSnapshot", ARN: snap, Context: backup})
		for _, a := range foundation.SnapshotReadActions {
			calls = append(calls, iamCall{Action: a, ARN: "*"})
		}
	case "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup":
		// Its EBS part (the data volume's daily backup, infra's backup.go).
		snap := "arn:aws:ec2:" + region + "::snapshot/snap-2"
		vault := "arn:aws:backup:" + region + ":" + acct + ":backup-vault:slipway-" + res.Stack + "-backup-vault-1"
		calls = append(calls,
			iamCall{Action: "ec2:CreateSnapshot", ARN: "arn:aws:ec2:" + region + ":" + acct + ":volume/vol-1", Context: own},
			iamCall{Action: "ec2:CreateSnapshot", ARN: snap},
			iamCall{Action: "ec2:CreateTags", ARN: snap},
			iamCall{Action: "ec2:DeleteSnapshot", ARN: snap, Context: backup},
			iamCall{Action: "backup:DescribeBackupVault", ARN: vault},
			iamCall{Action: "backup:CopyIntoBackupVault", ARN: vault})
		for _, a := range []string{"ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:DescribeTags", "tag:GetResources"} {
			calls = append(calls, iamCall{Action: a, ARN: "*"})
		}
	default:
		t.Errorf("%s: managed policy %s is not modelled: add its actions and the boundary's room for them", res.Stack, policyARN)
	}
	return calls
}

// Whatever the app program grants its roles fits inside its class's
// boundary, so a future grant outside it fails here rather than in AWS
// (where the boundary would silently cut it off); and the boundary is a
// limit.
func TestRoleBoundaryCoversAppRoles(t *testing.T) {
	f := runFoundation(t, "single")
	for _, stack := range []string{"dev", "prod", "pr-7"} {
		res := deployApp(t, stack)
		boundary := boundaryDoc(t, f, classFor[stack])
		check := func(what string, calls []iamCall) {
			if len(calls) == 0 {
				t.Errorf("%s: %s: no calls", stack, what)
			}
			for _, c := range calls {
				if ok, why := iamAllows(t, boundary, c); !ok {
					t.Errorf("%s: %s grants %s on %s %v, outside the role boundary (%s)", stack, what, c.Action, c.ARN, c.Context, why)
				}
			}
		}
		checked := 0
		for _, rp := range res.ByType("aws:iam/rolePolicy:RolePolicy") {
			for _, st := range parseDoc(t, rp.Str("policy")).Statement {
				check("role policy "+rp.Name+" "+st.Sid, statementCalls(t, st))
				checked++
			}
		}
		for _, att := range res.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
			check("managed policy on "+att.Name, managedPolicyCalls(t, res, att.Str("policyArn")))
		}
		if checked < 6 {
			t.Errorf("%s: only %d role statements checked", stack, checked)
		}
		other := map[string]string{"dev": "prod", "prod": "dev", "pr-7": "dev"}[stack]
		for _, c := range []iamCall{
			{Action: "ssm:GetParameter", ARN: "arn:aws:ssm:us-east-1:" + acct + ":parameter/slipway/" + other + "/secrets/x"},
			{Action: "ssm:GetParameter", ARN: "*"},
			{Action: "sqs:SendMessage", ARN: "*"},
			{Action: "logs:PutLogEvents", ARN: "arn:aws:logs:us-east-1:" + acct + ":log-group:slipway-" + other + "-api:*"},
			{Action: "cloudwatch:PutMetricData", ARN: "*", Context: map[string][]string{"cloudwatch:namespace": {"AWS/EC2"}}},
			{Action: "ecr:BatchGetImage", ARN: "arn:aws:ecr:us-east-1:" + acct + ":repository/slipway-" + other + "-api"},
			{Action: "s3:GetObject", ARN: "arn:aws:s3:::slipway-" + stack + "-site/x"},
			{Action: "iam:PassRole", ARN: "*"},
			{Action: "iam:CreateRole", ARN: "*"},
			{Action: "sts:AssumeRole", ARN: "*"},
			{Action: "ec2:RunInstances", ARN: "*"},
			{Action: "ec2:ModifySnapshotAttribute", ARN: "*"},
			{Action: "ec2:DeleteSnapshot", ARN: "arn:aws:ec2:us-east-1::snapshot/snap-1", Context: tagged(other)},
		} {
			if ok, why := iamAllows(t, boundary, c); ok {
				t.Errorf("%s: the role boundary allows %s on %s (%s)", stack, c.Action, c.ARN, why)
			}
		}
		if !strings.Contains(foundation.BoundaryName(classFor[stack]), string(classFor[stack])) {
			t.Errorf("boundary name %s", foundation.BoundaryName(classFor[stack]))
		}
	}
}

// The boundary's metrics namespace is the one the hosts publish to.
func TestBoundaryMetricsNamespaceIsTheHosts(t *testing.T) {
	if foundation.MetricsNamespace != infra.MetricsNamespace {
		t.Errorf("boundary namespace %s, hosts publish to %s", foundation.MetricsNamespace, infra.MetricsNamespace)
	}
}
