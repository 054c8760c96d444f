package foundation_test

import (
	"slices"
	"strings"
	"testing"

	"slipway/infra/foundation"
)

// Statement by statement (moved from infra's deploy-policy test): no
// wildcard action beyond the S3 configuration families, "*" only for the
// actions AWS cannot scope, every resource in this account and of the
// role's own class, IAM only under /slipway/, PassRole only to the three
// services (and AWS Backup), AttachRolePolicy only of AWS's policies.
func TestCIPoliciesAreLeastPrivilege(t *testing.T) {
	res := runFoundation(t, "single")
	own := map[string]string{foundation.DevDeployRole: "dev", foundation.DevPreviewRole: "dev",
		foundation.ReviewRole: "pr-", foundation.ProdDeployRole: "prod"}
	for role, mine := range own {
		doc := rolePolicies(t, res, role)
		unscopable := foundation.UnscopableDeployActions
		if role == foundation.DevPreviewRole {
			unscopable = foundation.UnscopablePreviewActions
		}
		denies := 0
		for _, st := range doc.Statement {
			if st.Effect == "Deny" {
				denies++
				continue
			}
			actions, resources := strs(st.Action), strs(st.Resource)
			for _, a := range actions {
				svc, verb, _ := strings.Cut(a, ":")
				if a == "*" || verb == "*" || svc == "iam" && strings.Contains(verb, "*") {
					t.Errorf("%s: %s allows wildcard action %s", role, st.Sid, a)
				}
				for _, forbidden := range []string{"iam:UpdateAssumeRolePolicy", "iam:CreateUser", "iam:CreateAccessKey",
					"iam:AttachUserPolicy", "iam:PutUserPolicy", "iam:AttachGroupPolicy", "iam:CreatePolicyVersion",
					"sts:AssumeRole", "ssm:CreateDocument", "ssm:UpdateDocument", "ssm:DeleteDocument",
					"cloudfront:ListDistributions", "ec2:ModifySnapshotAttribute", "route53:CreateHostedZone"} {
					if strings.EqualFold(a, forbidden) {
						t.Errorf("%s: %s allows %s", role, st.Sid, a)
					}
				}
			}
			for _, r := range resources {
				if r == "*" {
					for _, a := range actions {
						if !slices.Contains(unscopable, a) {
							t.Errorf("%s: %s grants %s on every resource, but it supports resource-level permissions", role, st.Sid, a)
						}
					}
					continue
				}
				if !strings.Contains(r, ":"+acct+":") && !strings.HasPrefix(r, "arn:aws:s3:::") &&
					!strings.HasPrefix(r, "arn:aws:route53:::") && !strings.HasPrefix(r, "arn:aws:ec2:us-east-1::image/") &&
					!strings.HasPrefix(r, "arn:aws:ec2:us-east-1::snapshot/") && r != "arn:aws:ec2:us-east-1:aws:prefix-list/*" {
					t.Errorf("%s: %s names a resource outside the account: %s", role, st.Sid, r)
				}
				for _, other := range []string{"dev", "prod", "pr-"} {
					if other != mine && (strings.Contains(r, "slipway-"+other) || strings.Contains(r, "/slipway/"+other)) {
						t.Errorf("%s: %s reaches %s: %s", role, st.Sid, other, r)
					}
				}
				if strings.HasPrefix(r, "arn:aws:s3:::") && !strings.HasPrefix(r, "arn:aws:s3:::slipway-"+mine) &&
					!strings.HasPrefix(r, "arn:aws:s3:::slipway-foundation-single-") {
					t.Errorf("%s: %s names bucket %s", role, st.Sid, r)
				}
			}
			if slices.Contains(actions, "iam:PassRole") {
				if got := strs(st.Condition["StringEquals"]["iam:PassedToService"]); !slices.Equal(got,
					[]string{"ec2.amazonaws.com", "vpc-flow-logs.amazonaws.com", "dlm.amazonaws.com", "backup.amazonaws.com"}) {
					t.Errorf("%s: PassRole to %v", role, got)
				}
			}
			if slices.Contains(actions, "iam:AttachRolePolicy") {
				for _, arn := range strs(st.Condition["ArnEquals"]["iam:PolicyARN"]) {
					if !strings.HasPrefix(arn, "arn:aws:iam::aws:policy/") {
						t.Errorf("%s: roles may get %s", role, arn)
					}
				}
			}
		}
		if denies < 3 {
			t.Errorf("%s: only %d deny statements", role, denies)
		}
	}
}
