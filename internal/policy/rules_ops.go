package policy

import (
	"encoding/json"
	"regexp"
	"strings"

	"slipway/stacks"
)

// Type tokens of registry, release and ops.
const (
	tRepository       = "aws:ecr/repository:Repository"
	tECRLifecycle     = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
	tQueue            = "aws:sqs/queue:Queue"
	tQueuePolicy      = "aws:sqs/queuePolicy:QueuePolicy"
	tRedrivePolicy    = "aws:sqs/redrivePolicy:RedrivePolicy"
	tLogGroup         = "aws:cloudwatch/logGroup:LogGroup"
	tAlarm            = "aws:cloudwatch/metricAlarm:MetricAlarm"
	tTopic            = "aws:sns/topic:Topic"
	tParameter        = "aws:ssm/parameter:Parameter"
	tRole             = "aws:iam/role:Role"
	tUser             = "aws:iam/user:User"
	tGroup            = "aws:iam/group:Group"
	tPolicy           = "aws:iam/policy:Policy"
	tInstanceProfile  = "aws:iam/instanceProfile:InstanceProfile"
	tAccessKey        = "aws:iam/accessKey:AccessKey"
	tLoginProfile     = "aws:iam/userLoginProfile:UserLoginProfile"
	tUserPolicy       = "aws:iam/userPolicy:UserPolicy"
	tUserAttachment   = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
	tPolicyAttachment = "aws:iam/policyAttachment:PolicyAttachment"
	tUserGroups       = "aws:iam/userGroupMembership:UserGroupMembership"
	tGroupMembers     = "aws:iam/groupMembership:GroupMembership"
	tRoleAttachment   = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	tGroupAttachment  = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"
	tRolePolicy       = "aws:iam/rolePolicy:RolePolicy"
	tGroupPolicy      = "aws:iam/groupPolicy:GroupPolicy"
)

// iamPath is the one IAM path Slipway creates identities and policies
// under, so the deploy identity's IAM rights can be confined to it.
const iamPath = "/slipway/"

var pathTypes = []string{tRole, tUser, tGroup, tPolicy, tInstanceProfile}

var attachmentTypes = []string{tRoleAttachment, tUserAttachment, tGroupAttachment, tPolicyAttachment}

var docTypes = []string{tPolicy, tRolePolicy, tUserPolicy, tGroupPolicy, tRole}

var opsRules = []Rule{
	{
		ID: "SLW-ECR-001", Severity: Error, Reference: "ECR.2",
		Title:  "Repositories have immutable tags",
		Fix:    `set imageTagMutability "IMMUTABLE" (tag releases by digest or commit)`,
		Types:  []string{tRepository},
		Inputs: []string{tRepository + ": imageTagMutability IMMUTABLE"},
		check: func(e *eval) {
			for _, r := range e.of(tRepository) {
				if !strings.HasPrefix(r.Str("imageTagMutability"), "IMMUTABLE") {
					e.fail(r, "imageTagMutability %q", r.Str("imageTagMutability"))
				}
			}
		},
	},
	{
		ID: "SLW-ECR-002", Severity: Error, Reference: "ECR.1",
		Title:  "Repositories scan images on push",
		Fix:    "set imageScanningConfiguration.scanOnPush true",
		Types:  []string{tRepository},
		Inputs: []string{tRepository + ": imageScanningConfiguration.scanOnPush true"},
		check: func(e *eval) {
			for _, r := range e.of(tRepository) {
				if r.In("imageScanningConfiguration.scanOnPush") != true {
					e.fail(r, "scanOnPush off")
				}
			}
		},
	},
	{
		ID: "SLW-ECR-003", Severity: Error, Reference: "ECR.3",
		Title:  "Repositories have a lifecycle policy",
		Fix:    "add an ecr.LifecyclePolicy expiring untagged images and keeping the last N tagged ones",
		Types:  []string{tRepository},
		Inputs: []string{tECRLifecycle + ": repository = the repository name, policy JSON with ≥ 1 rule"},
		check: func(e *eval) {
			for _, r := range e.of(tRepository) {
				lp, ok := findBy(e.peek(tECRLifecycle), "repository", r)
				if !ok {
					e.fail(r, "no lifecycle policy")
				} else if lifecycleRules(lp.In("policy")) == 0 {
					e.fail(r, "lifecycle policy has no rules")
				}
			}
		},
	},
	{
		ID: "SLW-SQS-001", Severity: Error, Reference: "SQS.1",
		Title:  "Queues are encrypted at rest",
		Fix:    "set sqsManagedSseEnabled true (or kmsMasterKeyId)",
		Types:  []string{tQueue},
		Inputs: []string{tQueue + ": sqsManagedSseEnabled true or kmsMasterKeyId non-empty"},
		check: func(e *eval) {
			for _, q := range e.of(tQueue) {
				if q.In("sqsManagedSseEnabled") != true && q.Str("kmsMasterKeyId") == "" {
					e.fail(q, "not encrypted at rest")
				}
			}
		},
	},
	{
		ID: "SLW-SQS-002", Severity: Error, Reference: "Slipway design (SQS developer guide: dead-letter queues)",
		Title: "Every work queue sends failing messages to a dead-letter queue of this stack",
		Fix:   `set redrivePolicy {"deadLetterTargetArn": <dlq arn>, "maxReceiveCount": N} on the queue`,
		Types: []string{tQueue},
		Inputs: []string{tQueue + ": redrivePolicy (JSON string) deadLetterTargetArn = a recorded queue's arn, maxReceiveCount ≥ 1 " +
			"(or " + tRedrivePolicy + ": queueUrl, redrivePolicy); a queue named as a dead-letter target is itself exempt"},
		check: func(e *eval) {
			queues := e.of(tQueue)
			type redrive struct {
				Target string  `json:"deadLetterTargetArn"`
				Max    float64 `json:"maxReceiveCount"`
			}
			policies := map[string]redrive{} // queue URN -> redrive
			for _, q := range queues {
				raw := q.Str("redrivePolicy")
				if rp, ok := findBy(e.peek(tRedrivePolicy), "queueUrl", q); ok {
					raw = rp.Str("redrivePolicy")
				}
				var r redrive
				if raw != "" && json.Unmarshal([]byte(raw), &r) == nil {
					policies[q.URN] = r
				}
			}
			isTarget := func(q string) bool {
				for _, r := range policies {
					for _, c := range queues {
						if c.URN == q && refersTo(r.Target, c) {
							return true
						}
					}
				}
				return false
			}
			for _, q := range queues {
				if isTarget(q.URN) {
					continue
				}
				r, ok := policies[q.URN]
				if !ok {
					e.fail(q, "no redrive policy (failing messages would loop until they expire)")
					continue
				}
				found := false
				for _, c := range queues {
					if c.URN != q.URN && refersTo(r.Target, c) {
						found = true
					}
				}
				if !found {
					e.fail(q, "dead-letter target %s is no queue of this stack", r.Target)
				}
				if r.Max < 1 {
					e.fail(q, "maxReceiveCount %v", r.Max)
				}
			}
		},
	},
	{
		ID: "SLW-SQS-003", Severity: Error, Reference: "Slipway design (SQS security best practices: enforce TLS)",
		Title:  "Every queue denies requests made without TLS",
		Fix:    `queue policy: Deny "sqs:*" to Principal "*" when Bool aws:SecureTransport = "false"`,
		Types:  []string{tQueue},
		Inputs: []string{tQueuePolicy + `: queueUrl = the queue url, policy with Deny "sqs:*", Principal "*", Condition Bool aws:SecureTransport "false"`},
		check: func(e *eval) {
			for _, q := range e.of(tQueue) {
				doc, ok := parseDoc(q.In("policy"))
				if p, found := findBy(e.peek(tQueuePolicy), "queueUrl", q); found {
					doc, ok = parseDoc(p.In("policy"))
				}
				if !ok || !denyInsecureTransport(doc, "sqs:") {
					e.fail(q, "no policy denying aws:SecureTransport=false")
				}
			}
		},
	},
	{
		ID: "SLW-IAM-001", Severity: Error, Reference: "IAM.1",
		Title: "No policy grants full administrator rights (\"*\" on \"*\")",
		Fix:   "grant the actions the identity needs on the resources it needs; never AdministratorAccess",
		Types: append(append([]string{}, docTypes...), attachmentTypes...),
		Inputs: []string{"policy (" + strings.Join(docTypes[:4], ", ") + "), inlinePolicies[*].policy (" + tRole + "): no Allow of Action \"*\" (or NotAction) on Resource \"*\"",
			"policyArn (" + strings.Join(attachmentTypes, ", ") + "), managedPolicyArns (" + tRole + "): not …:policy/AdministratorAccess"},
		check: func(e *eval) {
			for _, r := range e.of(append(append([]string{}, docTypes...), attachmentTypes...)...) {
				for _, doc := range documents(r) {
					for _, st := range doc {
						if !st.allows() || !contains(st.Resource, "*") {
							continue
						}
						if contains(st.Action, "*") || len(st.NotAction) > 0 {
							e.fail(r, "statement %q allows every action on every resource", st.Sid)
						}
					}
				}
				arns := append(strList(r.In("policyArn")), strList(r.In("managedPolicyArns"))...)
				for _, a := range arns {
					if strings.HasSuffix(a, ":policy/AdministratorAccess") {
						e.fail(r, "attaches %s", a)
					}
				}
			}
		},
	},
	{
		ID: "SLW-IAM-002", Severity: Error, Reference: "IAM.5",
		Title:  "IAM users have no console password (CI keys only)",
		Fix:    "remove the iam.UserLoginProfile; people use SSO, CI uses keys or OIDC",
		Types:  []string{tUser},
		Inputs: []string{tLoginProfile + ": absent"},
		check: func(e *eval) {
			e.of(tUser)
			for _, lp := range e.of(tLoginProfile) {
				e.fail(lp, "console password for user %s", lp.Str("user"))
			}
		},
	},
	{
		ID: "SLW-IAM-003", Severity: Error, Reference: "IAM.2",
		Title: "Users get policies only through groups",
		Fix:   "attach the policy to a group and make the user a member (iam.UserGroupMembership)",
		Types: []string{tUser},
		Inputs: []string{tUserPolicy + ", " + tUserAttachment + ": absent; " + tPolicyAttachment + ": users empty",
			"each " + tUser + " is named by " + tUserGroups + ".user or in " + tGroupMembers + ".users"},
		check: func(e *eval) {
			for _, p := range e.peek(tUserPolicy, tUserAttachment) {
				e.fail(p, "policy attached directly to user %s", p.Str("user"))
			}
			for _, p := range e.peek(tPolicyAttachment) {
				if len(list(p.In("users"))) > 0 {
					e.fail(p, "policy attached directly to users %v", p.In("users"))
				}
			}
			for _, u := range e.of(tUser) {
				member := false
				for _, m := range e.peek(tUserGroups) {
					if refersTo(m.In("user"), u) && len(list(m.In("groups"))) > 0 {
						member = true
					}
				}
				for _, m := range e.peek(tGroupMembers) {
					for _, x := range list(m.In("users")) {
						if refersTo(x, u) {
							member = true
						}
					}
				}
				if !member {
					e.fail(u, "user is in no group")
				}
			}
		},
	},
	{
		ID: "SLW-IAM-004", Severity: Error, Reference: "Slipway design (IAM path confinement)",
		Title:  "Every role, user, group, policy and instance profile lives under " + iamPath,
		Fix:    `set path "` + iamPath + `"`,
		Types:  pathTypes,
		Inputs: []string{strings.Join(pathTypes, ", ") + ": path = " + iamPath},
		check: func(e *eval) {
			for _, r := range e.of(pathTypes...) {
				if p := r.Str("path"); p != iamPath {
					e.fail(r, "path %q", p)
				}
			}
		},
	},
	{
		ID: "SLW-IAM-005", Severity: Error, Reference: "CKV_AWS_358",
		Title: "GitHub OIDC roles trust one repository, with audience sts.amazonaws.com",
		Fix: `trust condition StringEquals token.actions.githubusercontent.com:aud sts.amazonaws.com and ` +
			`StringLike/StringEquals …:sub "repo:<owner>/<name>:…"`,
		Types:  []string{tRole},
		Inputs: []string{tRole + ": assumeRolePolicy statements with Principal.Federated …token.actions.githubusercontent.com"},
		check: func(e *eval) {
			for _, r := range e.peek(tRole) {
				doc, _ := parseDoc(r.In("assumeRolePolicy"))
				for _, st := range doc {
					fed := strings.Join(st.principals("Federated"), " ")
					if !strings.Contains(fed, "token.actions.githubusercontent.com") {
						continue
					}
					e.checked++
					aud := append(st.condition("StringEquals", "token.actions.githubusercontent.com:aud"),
						st.condition("StringLike", "token.actions.githubusercontent.com:aud")...)
					if !contains(aud, "sts.amazonaws.com") {
						e.fail(r, "trust does not pin the audience sts.amazonaws.com")
					}
					subs := append(st.condition("StringEquals", "token.actions.githubusercontent.com:sub"),
						st.condition("StringLike", "token.actions.githubusercontent.com:sub")...)
					if len(subs) == 0 {
						e.fail(r, "trust has no sub condition: any GitHub repository could assume the role")
					}
					for _, s := range subs {
						if !githubSub.MatchString(s) {
							e.fail(r, "sub %q does not name one repository", s)
						}
					}
				}
			}
			e.naReason = "no GitHub OIDC role"
		},
	},
	{
		ID: "SLW-IAM-006", Severity: Error, Reference: "CKV_AWS_60",
		Title:  "Roles are assumable only by named services or a federated identity, never by any AWS principal",
		Fix:    `trust a Service principal (ec2.amazonaws.com, …) or the OIDC provider, not "AWS": "*"`,
		Types:  []string{tRole},
		Inputs: []string{tRole + ": assumeRolePolicy Allow statements without Principal \"*\" / AWS \"*\""},
		check: func(e *eval) {
			for _, r := range e.of(tRole) {
				doc, ok := parseDoc(r.In("assumeRolePolicy"))
				if !ok {
					e.fail(r, "assumeRolePolicy is not a policy document")
					continue
				}
				for _, st := range doc {
					if st.allows() && st.isPublic() {
						e.fail(r, "statement %q lets any AWS principal assume the role", st.Sid)
					}
				}
			}
		},
	},
	{
		ID: "SLW-IAM-007", Severity: Error, Reference: "Slipway design (role boundary, docs/operations.md)",
		Title:  "Every role a service assumes carries the project's role boundary",
		Fix:    `set permissionsBoundary to policy` + iamPath + `<project>-<dev|prod>-role-boundary (infra/boundary.go)`,
		Types:  []string{tRole},
		Inputs: []string{tRole + ": permissionsBoundary = …:policy" + iamPath + "*-role-boundary when a Service principal assumes it"},
		check: func(e *eval) {
			for _, r := range e.peek(tRole) {
				doc, _ := parseDoc(r.In("assumeRolePolicy"))
				service := false
				for _, st := range doc {
					service = service || st.allows() && len(st.principals("Service")) > 0
				}
				if !service {
					continue
				}
				e.checked++
				b := r.Str("permissionsBoundary")
				if _, name, ok := strings.Cut(b, ":policy"+iamPath); !ok || !strings.HasSuffix(name, "-role-boundary") {
					e.fail(r, "permissions boundary %q: the deploy identity could give this role any right", b)
				}
			}
		},
	},
	{
		ID: "SLW-LOG-001", Severity: Error, Reference: "CKV_AWS_66",
		Title:  "Log groups expire their events",
		Fix:    "set retentionInDays (slipway:logRetentionDays)",
		Types:  []string{tLogGroup},
		Inputs: []string{tLogGroup + ": retentionInDays > 0"},
		check: func(e *eval) {
			for _, g := range e.peek(tLogGroup) {
				e.checked++
				if d, _ := num(g.In("retentionInDays")); d <= 0 {
					e.fail(g, "no retention: logs (and their bill) grow forever")
				}
			}
		},
	},
	{
		ID: "SLW-CW-001", Severity: Error, Reference: "CloudWatch.15",
		Title:  "Every alarm has an action and actions are enabled",
		Fix:    "set alarmActions (the alarm topic) and leave actionsEnabled true",
		Types:  []string{tAlarm},
		Inputs: []string{tAlarm + ": alarmActions non-empty, actionsEnabled not false"},
		check: func(e *eval) {
			for _, a := range e.of(tAlarm) {
				if len(strList(a.In("alarmActions"))) == 0 {
					e.fail(a, "no alarm action")
				}
				if a.In("actionsEnabled") == false {
					e.fail(a, "actions disabled")
				}
			}
		},
	},
	{
		ID: "SLW-CW-002", Severity: Error, Reference: "CloudWatch.15",
		Title:  "When the stack has an alarm topic, every alarm notifies it",
		Fix:    "pass the topic ARN into every alarm's alarmActions (the host's AlarmActions seam for the recovery alarm)",
		Types:  []string{tTopic, tAlarm},
		Inputs: []string{tAlarm + ": alarmActions contains the arn of a recorded " + tTopic},
		check: func(e *eval) {
			topics := e.peek(tTopic)
			if len(topics) == 0 {
				e.naReason = "no " + tTopic + " in this stack"
				return
			}
			for _, a := range e.of(tAlarm) {
				if scalingAlarm(a) {
					continue // a control loop of autoscaling, not a page (rules_ecs.go)
				}
				notified := false
				for _, act := range strList(a.In("alarmActions")) {
					for _, t := range topics {
						if refersTo(act, t) {
							notified = true
						}
					}
				}
				if !notified {
					e.fail(a, "alarm notifies no topic of this stack")
				}
			}
		},
	},
	{
		ID: "SLW-SSM-001", Severity: Error, Reference: "CKV2_AWS_34",
		Title:  "Parameters holding secrets are SecureString",
		Fix:    `set type "SecureString" and pass the value as a secret output`,
		Types:  []string{tParameter},
		Inputs: []string{tParameter + ": type SecureString when the name contains /secrets/ or the value holds a known secret"},
		check: func(e *eval) {
			for _, p := range e.of(tParameter) {
				// Not p.IsSecretInput("value"): pulumi-aws marks every
				// parameter value secret, String ones included.
				secret := strings.Contains(p.Str("name"), "/secrets/") || e.s.leakedSecret(p.Str("value"))
				if secret && p.Str("type") != "SecureString" {
					e.fail(p, "secret parameter %s has type %q", p.Str("name"), p.Str("type"))
				}
			}
		},
	},
	{
		ID: "SLW-SSM-002", Severity: Error, Reference: "Slipway design (parameter path contract)",
		Title:  "Parameters live under /slipway/<stack>/, the only path the host may read",
		Fix:    `name parameters "/slipway/<stack>/…" (release under release/, secrets under secrets/)`,
		Types:  []string{tParameter},
		Inputs: []string{tParameter + ": name starts with /slipway/<stack>/"},
		check: func(e *eval) {
			prefix := "/slipway/" + e.s.Name + "/"
			for _, p := range e.of(tParameter) {
				if !strings.HasPrefix(p.Str("name"), prefix) {
					e.fail(p, "parameter %q is outside %s", p.Str("name"), prefix)
				}
			}
		},
	},
	{
		ID: "SLW-REV-003", Severity: Error, Reference: "Slipway design (review stacks hold no long-lived credentials)",
		Title: "Review stacks create no IAM users or access keys",
		Fix:   "create the deploy user only in dev and prod",
		Types: []string{tUser, tAccessKey, tLoginProfile}, Profiles: []stacks.Profile{stacks.Review},
		Inputs: []string{tUser + ", " + tAccessKey + ", " + tLoginProfile + ": absent in pr-<n> stacks"},
		check: func(e *eval) {
			e.checked++ // the absence itself is what is checked
			for _, r := range e.peek(tUser, tAccessKey, tLoginProfile) {
				e.fail(r, "IAM credential in a review stack")
			}
		},
	},
}

// githubSub accepts "repo:<owner>/<name>:<anything>" with a concrete owner
// and name.
var githubSub = regexp.MustCompile(`^repo:[A-Za-z0-9-]+/[A-Za-z0-9._-]+:.+$`)
