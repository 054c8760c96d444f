package policy

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// Type tokens of the ECS + RDS profile.
const (
	tECSCluster   = "aws:ecs/cluster:Cluster"
	tECSService   = "aws:ecs/service:Service"
	tTaskDef      = "aws:ecs/taskDefinition:TaskDefinition"
	tLoadBalancer = "aws:lb/loadBalancer:LoadBalancer"
	tRDSInstance  = "aws:rds/instance:Instance"
)

// secretEnvName is an environment variable name that holds a credential
// (FSBP ECS.8 looks for AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// ECS_ENGINE_AUTH_DATA; Slipway also refuses its own secrets' names).
var secretEnvName = regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY|ENGINE_AUTH_DATA|PRIVATE_KEY)`)

// containers parses a task definition's containerDefinitions.
func containers(td mockcloud.Resource) ([]map[string]any, bool) {
	var cs []map[string]any
	if err := json.Unmarshal([]byte(td.Str("containerDefinitions")), &cs); err != nil {
		return nil, false
	}
	return cs, true
}

// eachContainer calls fn for every container of every task definition,
// failing a task definition whose containers cannot be read.
func eachContainer(e *eval, fn func(td mockcloud.Resource, c map[string]any)) {
	for _, td := range e.of(tTaskDef) {
		cs, ok := containers(td)
		if !ok {
			e.fail(td, "containerDefinitions is not JSON")
			continue
		}
		for _, c := range cs {
			fn(td, c)
		}
	}
}

var ecsRules = []Rule{
	{
		// Deliberately not met by Slipway's ECS profile, so a warning: the
		// tasks run in public subnets with public IPs to reach ECR, SSM,
		// SQS and CloudWatch without a NAT gateway or interface endpoints;
		// the finding says so and checks the compensating control.
		ID: "SLW-ECS-001", Severity: Warning, Reference: "ECS.2",
		Title: "ECS services do not assign public IP addresses automatically",
		Fix:   "run the tasks in private subnets with a NAT gateway or VPC endpoints and set assignPublicIp false (docs/scaling.md prices both)",
		Types: []string{tECSService},
		Inputs: []string{tECSService + ": networkConfiguration.assignPublicIp, networkConfiguration.securityGroups; " +
			"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule: securityGroupId, referencedSecurityGroupId"},
		check: func(e *eval) {
			for _, s := range e.of(tECSService) {
				if s.In("networkConfiguration.assignPublicIp") != true {
					continue
				}
				open := ""
				for _, g := range strList(s.In("networkConfiguration.securityGroups")) {
					for _, r := range e.peek("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
						if r.In("securityGroupId") == g && r.In("referencedSecurityGroupId") == nil {
							open = r.Name
						}
					}
				}
				if open != "" {
					e.fail(s, "public IP and its security group admits addresses (rule %s), not only the load balancer", open)
					continue
				}
				e.fail(s, "deliberate: tasks take public IPs to reach ECR, SSM, SQS and CloudWatch without a NAT gateway "+
					"(docs/scaling.md); their security group admits only other security groups (the load balancer)")
			}
		},
	},
	{
		ID: "SLW-ECS-002", Severity: Error, Reference: "ECS.4",
		Title: "No ECS container runs privileged",
		Fix:   "set privileged false (or leave it out) in every container definition",
		Types: []string{tTaskDef}, Inputs: []string{tTaskDef + ": containerDefinitions[*].privileged"},
		check: func(e *eval) {
			eachContainer(e, func(td mockcloud.Resource, c map[string]any) {
				if c["privileged"] == true {
					e.fail(td, "container %v is privileged", c["name"])
				}
			})
		},
	},
	{
		ID: "SLW-ECS-003", Severity: Error, Reference: "ECS.5",
		Title: "ECS containers have read-only root filesystems",
		Fix:   "set readonlyRootFilesystem true and give writable paths (/tmp, ECS Exec's agent paths) task volumes",
		Types: []string{tTaskDef}, Inputs: []string{tTaskDef + ": containerDefinitions[*].readonlyRootFilesystem"},
		check: func(e *eval) {
			eachContainer(e, func(td mockcloud.Resource, c map[string]any) {
				if c["readonlyRootFilesystem"] != true {
					e.fail(td, "container %v has a writable root filesystem", c["name"])
				}
			})
		},
	},
	{
		ID: "SLW-ECS-004", Severity: Error, Reference: "ECS.8",
		Title: "No secret reaches an ECS container as a plain environment variable",
		Fix:   "pass credentials as secrets (valueFrom an SSM SecureString or Secrets Manager ARN), never environment",
		Types: []string{tTaskDef},
		Inputs: []string{tTaskDef + ": containerDefinitions[*].environment[*].name (no PASSWORD, SECRET, TOKEN, API_KEY, ACCESS_KEY, ENGINE_AUTH_DATA) " +
			"and .value (no stack secret); containerDefinitions[*].secrets[*].valueFrom is an arn:…:ssm: or arn:…:secretsmanager: ARN"},
		check: func(e *eval) {
			eachContainer(e, func(td mockcloud.Resource, c map[string]any) {
				env, _ := c["environment"].([]any)
				for _, x := range env {
					kv, _ := x.(map[string]any)
					name, value := str(kv["name"]), str(kv["value"])
					if secretEnvName.MatchString(name) {
						e.fail(td, "container %v: %s is a plain environment variable", c["name"], name)
					}
					if e.s.leakedSecret(value) {
						e.fail(td, "container %v: %s holds a stack secret in plain text", c["name"], name)
					}
				}
				secrets, _ := c["secrets"].([]any)
				for _, x := range secrets {
					ref, _ := x.(map[string]any)
					from := str(ref["valueFrom"])
					if !strings.Contains(from, ":ssm:") && !strings.Contains(from, ":secretsmanager:") {
						e.fail(td, "container %v: secret %v from %q, not SSM or Secrets Manager", c["name"], ref["name"], from)
					}
				}
			})
		},
	},
	{
		ID: "SLW-ECS-005", Severity: Error, Reference: "ECS.12",
		Title: "ECS clusters have Container Insights on (prod)",
		Fix:   `cluster settings: {name: "containerInsights", value: "enabled"} (or "enhanced")`,
		Types: []string{tECSCluster}, Profiles: []stacks.Profile{stacks.Prod},
		Inputs: []string{tECSCluster + ": settings[*] name containerInsights, value enabled or enhanced"},
		check: func(e *eval) {
			for _, c := range e.of(tECSCluster) {
				on := false
				for _, s := range list(c.In("settings")) {
					m, _ := s.(map[string]any)
					if str(m["name"]) == "containerInsights" && slices.Contains([]string{"enabled", "enhanced"}, str(m["value"])) {
						on = true
					}
				}
				if !on {
					e.fail(c, "Container Insights is off")
				}
			}
		},
	},
	{
		ID: "SLW-ELB-001", Severity: Error, Reference: "ELB.4",
		Title: "Application load balancers drop invalid HTTP header fields",
		Fix:   "set dropInvalidHeaderFields true on the load balancer",
		Types: []string{tLoadBalancer}, Inputs: []string{tLoadBalancer + ": dropInvalidHeaderFields (application load balancers)"},
		check: func(e *eval) {
			for _, lb := range e.of(tLoadBalancer) {
				if t := lb.Str("loadBalancerType"); (t == "" || t == "application") && lb.In("dropInvalidHeaderFields") != true {
					e.fail(lb, "invalid header fields are passed to the targets")
				}
			}
		},
	},
	{
		ID: "SLW-ELB-002", Severity: Error, Reference: "ELB.5",
		Title: "Load balancers write access logs (prod)",
		Fix:   "set accessLogs {enabled: true, bucket: <the stack's log bucket>}",
		Types: []string{tLoadBalancer}, Profiles: []stacks.Profile{stacks.Prod},
		Inputs: []string{tLoadBalancer + ": accessLogs.enabled, accessLogs.bucket"},
		check: func(e *eval) {
			for _, lb := range e.of(tLoadBalancer) {
				if lb.In("accessLogs.enabled") != true || lb.Str("accessLogs.bucket") == "" {
					e.fail(lb, "no access logs")
				}
			}
		},
	},
	{
		ID: "SLW-ELB-003", Severity: Error, Reference: "ELB.6",
		Title: "Load balancers have deletion protection (prod)",
		Fix:   "set enableDeletionProtection true",
		Types: []string{tLoadBalancer}, Profiles: []stacks.Profile{stacks.Prod},
		Inputs: []string{tLoadBalancer + ": enableDeletionProtection"},
		check: func(e *eval) {
			for _, lb := range e.of(tLoadBalancer) {
				if lb.In("enableDeletionProtection") != true {
					e.fail(lb, "deletion protection is off")
				}
			}
		},
	},
	rdsRule("SLW-RDS-001", "RDS.2", "RDS instances are not publicly accessible", "set publiclyAccessible false", nil,
		"publiclyAccessible", func(r mockcloud.Resource) string {
			if r.In("publiclyAccessible") == true {
				return "publicly accessible"
			}
			return ""
		}),
	rdsRule("SLW-RDS-002", "RDS.3", "RDS instances are encrypted at rest", "set storageEncrypted true", nil,
		"storageEncrypted", func(r mockcloud.Resource) string {
			if r.In("storageEncrypted") != true {
				return "storage not encrypted"
			}
			return ""
		}),
	rdsRule("SLW-RDS-003", "RDS.5", "RDS instances are Multi-AZ (prod)", "set multiAz true", []stacks.Profile{stacks.Prod},
		"multiAz", func(r mockcloud.Resource) string {
			if r.In("multiAz") != true {
				return "single-AZ"
			}
			return ""
		}),
	rdsRule("SLW-RDS-004", "RDS.8", "RDS instances have deletion protection (prod)", "set deletionProtection true", []stacks.Profile{stacks.Prod},
		"deletionProtection", func(r mockcloud.Resource) string {
			if r.In("deletionProtection") != true {
				return "deletion protection is off"
			}
			return ""
		}),
	rdsRule("SLW-RDS-005", "RDS.9", "RDS Postgres ships its postgresql and upgrade logs to CloudWatch",
		`set enabledCloudwatchLogsExports ["postgresql", "upgrade"]`, nil,
		"engine, enabledCloudwatchLogsExports", func(r mockcloud.Resource) string {
			logs := strList(r.In("enabledCloudwatchLogsExports"))
			if r.Str("engine") == "postgres" && (!slices.Contains(logs, "postgresql") || !slices.Contains(logs, "upgrade")) {
				return "logs exported: " + strings.Join(logs, ", ") + " (want postgresql and upgrade)"
			}
			return ""
		}),
	rdsRule("SLW-RDS-006", "RDS.11", "RDS instances keep automatic backups at least 7 days",
		"set backupRetentionPeriod 7 or more (prod: 14, slipway:rdsBackupRetentionDays)", nil,
		"backupRetentionPeriod", func(r mockcloud.Resource) string {
			if n, _ := num(r.In("backupRetentionPeriod")); n < 7 {
				return "automatic backups kept fewer than 7 days"
			}
			return ""
		}),
	rdsRule("SLW-RDS-007", "RDS.13", "RDS instances take minor version upgrades automatically",
		"set autoMinorVersionUpgrade true (the provider's default) and give engineVersion as a major", nil,
		"autoMinorVersionUpgrade", func(r mockcloud.Resource) string {
			if r.In("autoMinorVersionUpgrade") == false {
				return "automatic minor version upgrades are off"
			}
			return ""
		}),
}

// rdsRule is a rule over every RDS instance: bad returns why one fails.
func rdsRule(id, ref, title, fix string, profiles []stacks.Profile, inputs string, bad func(mockcloud.Resource) string) Rule {
	return Rule{
		ID: id, Severity: Error, Reference: ref, Title: title, Fix: fix,
		Types: []string{tRDSInstance}, Profiles: profiles, Inputs: []string{tRDSInstance + ": " + inputs},
		check: func(e *eval) {
			for _, r := range e.of(tRDSInstance) {
				if why := bad(r); why != "" {
					e.fail(r, "%s", why)
				}
			}
		},
	}
}

// elbLogWriters are the Elastic Load Balancing accounts that deliver
// access logs per region (infra/loadbalancer.go holds the same list):
// a bucket policy statement letting one of them put objects under
// AWSLogs/ is the one Allow a non-CloudFront bucket may have (SLW-S3-004).
var elbLogWriters = []string{"127311923021", "033677994240", "027434742980", "797873946194", "985666609251",
	"054676820928", "156460612806", "652711504416", "009996457667", "897822967062", "582318560864",
	"114774131450", "783225319266", "718504428378", "507241528517"}

// isELBLogDelivery reports whether a statement only lets ELB's log
// delivery write access logs under AWSLogs/.
func (s statement) isELBLogDelivery() bool {
	if !s.allows() || !slices.Equal(s.Action, []string{"s3:PutObject"}) || len(s.Resource) == 0 {
		return false
	}
	for _, r := range s.Resource {
		if !strings.Contains(r, "/AWSLogs/") {
			return false
		}
	}
	principals := s.principals("AWS")
	if len(principals) != 1 || len(s.principals("Service")) != 0 {
		return false
	}
	for _, acct := range elbLogWriters {
		if principals[0] == "arn:aws:iam::"+acct+":root" {
			return true
		}
	}
	return false
}

// scalingAlarm reports whether an alarm's only actions are Application
// Auto Scaling policies: the worker's 0 -> 1 and -> 0 rules are control
// loops, and paging on every scale event would bury real alarms.
func scalingAlarm(a mockcloud.Resource) bool {
	actions := strList(a.In("alarmActions"))
	for _, act := range actions {
		if !strings.Contains(act, ":autoscaling:") || !strings.Contains(act, ":scalingPolicy:") {
			return false
		}
	}
	return len(actions) > 0
}

func init() { all = append(all, ecsRules...) }
