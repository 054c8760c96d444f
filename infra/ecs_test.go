package infra_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"slipway/internal/mockcloud"
	"slipway/program"
	"slipway/stacks"
)

// ecsStacks are the stacks the ECS + RDS profile is checked on: prod (all
// protections) and a review stack (nothing protected, scale to zero).
var ecsStacks = []string{"prod", "pr-7"}

// onECSFor switches a stack to compute=ecs, database=rds: prod with the
// task minimums prod requires, a review stack on the project defaults
// (one API task, a worker that scales to zero).
func onECSFor(stack string) func(*stacks.Files) {
	return func(f *stacks.Files) {
		f.Values["slipway:compute"] = "ecs"
		f.Values["slipway:database"] = "rds"
		if !stacks.IsReviewStack(stack) {
			f.Values["slipway:apiMinTasks"] = "2"
			f.Values["slipway:workerMinTasks"] = "1"
		}
	}
}

func containersOf(t *testing.T, td mockcloud.Resource) []map[string]any {
	t.Helper()
	var cs []map[string]any
	if err := json.Unmarshal([]byte(td.Str("containerDefinitions")), &cs); err != nil {
		t.Fatalf("%s: container definitions: %v", td.Name, err)
	}
	return cs
}

func byName(cs []map[string]any, name string) map[string]any {
	for _, c := range cs {
		if c["name"] == name {
			return c
		}
	}
	return nil
}

func mustFind(t *testing.T, res *mockcloud.Result, typ, name string) mockcloud.Resource {
	t.Helper()
	r, ok := res.Find(typ, name)
	if !ok {
		t.Fatalf("%s: no %s %q", res.Stack, typ, name)
	}
	return r
}

func TestECSReplacesTheHost(t *testing.T) {
	for _, stack := range ecsStacks {
		res := deploy(t, stack, onECSFor(stack))
		for _, typ := range []string{"aws:ec2/instance:Instance", "aws:ec2/eip:Eip", "aws:ebs/volume:Volume",
			"aws:ec2/volumeAttachment:VolumeAttachment", "aws:ssm/association:Association", "aws:dlm/lifecyclePolicy:LifecyclePolicy"} {
			if n := len(res.ByType(typ)); n != 0 {
				t.Errorf("%s: %d %s in ecs mode", stack, n, typ)
			}
		}
		// The host's alarms go with the host; the queue's and the edge's stay.
		for _, r := range res.ByType("aws:cloudwatch/metricAlarm:MetricAlarm") {
			for _, host := range []string{"monitoring-reboot", "monitoring-cpu", "monitoring-api", "monitoring-data-disk", "monitoring-root-disk", "host-recover"} {
				if r.Name == host {
					t.Errorf("%s: host alarm %s in ecs mode", stack, host)
				}
			}
		}
		mustFind(t, res, "aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-dead-letter")
		mustFind(t, res, "aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-cdn-5xx")

		// CloudFront's API origin is the load balancer, with the secret header.
		dist := one(t, res, "aws:cloudfront/distribution:Distribution")
		alb := one(t, res, "aws:lb/loadBalancer:LoadBalancer")
		if dist.Str("origins[1].domainName") != alb.Out("dnsName") || alb.Out("dnsName") == nil {
			t.Errorf("%s: API origin %v, want the load balancer %v", stack, dist.In("origins[1].domainName"), alb.Out("dnsName"))
		}
		if dist.Str("origins[1].customHeaders[0].value") != testOriginSecret {
			t.Errorf("%s: origin header %v", stack, dist.In("origins[1].customHeaders"))
		}
	}
}

// Switching compute keeps the URN of everything the switch does not
// concern: a URN that changed would be a delete and a create.
func TestECSKeepsUnconcernedURNs(t *testing.T) {
	unconcerned := regexp.MustCompile(`::slipway:(site|dns|queue|registry|logs|network|deployer):|::slipway:monitoring:Alerts|::slipway:monitoring:Monitoring(\$aws:cloudwatch/metricAlarm:MetricAlarm::monitoring-(dead-letter|cdn-5xx)|\$aws:cloudwatch/dashboard|::monitoring$)`)
	for _, stack := range ecsStacks {
		host := deploy(t, stack).ByURN()
		ecs := deploy(t, stack, onECSFor(stack)).ByURN()
		n := 0
		for urn, r := range host {
			if !unconcerned.MatchString(urn) {
				continue
			}
			n++
			got, ok := ecs[urn]
			if !ok {
				t.Errorf("%s: %s is gone in ecs mode", stack, urn)
				continue
			}
			if got.Parent != r.Parent {
				t.Errorf("%s: %s moved from %s to %s", stack, urn, r.Parent, got.Parent)
			}
		}
		if n < 40 {
			t.Errorf("%s: only %d unconcerned URNs compared; the pattern no longer matches the program", stack, n)
		}
		// The queue, repositories, logs and alarm topic are the same
		// resources with the same inputs: the switch does not touch them.
		for urn, r := range host {
			if strings.Contains(urn, "::slipway:queue:") || strings.Contains(urn, "::slipway:logs:") || strings.Contains(urn, "aws:ecr/repository") {
				if b, _ := json.Marshal(r.Inputs.Mappable()); string(b) != mustJSON(ecs[urn].Inputs.Mappable()) {
					t.Errorf("%s: %s has other inputs in ecs mode", stack, urn)
				}
			}
		}
		// The edge is the same distribution but for the API origin's
		// domain: the load balancer instead of the host.
		edge := func(res map[string]mockcloud.Resource) string {
			for urn, r := range res {
				if strings.HasSuffix(urn, "aws:cloudfront/distribution:Distribution::site") {
					in := r.Inputs.Mappable()
					origins := in["origins"].([]any)
					api := origins[1].(map[string]any)
					if api["domainName"] == nil || api["domainName"] == "" {
						t.Errorf("%s: API origin without a domain", stack)
					}
					api["domainName"] = "<origin>"
					return mustJSON(in)
				}
			}
			t.Fatalf("%s: no distribution", stack)
			return ""
		}
		if edge(host) != edge(ecs) {
			t.Errorf("%s: the distribution differs in ecs mode beyond the API origin's domain", stack)
		}
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestECSClusterAndTaskDefinitions(t *testing.T) {
	for _, stack := range ecsStacks {
		res := deploy(t, stack, onECSFor(stack))
		cluster := one(t, res, "aws:ecs/cluster:Cluster")
		if cluster.Str("settings[0].name") != "containerInsights" || cluster.Str("settings[0].value") != "enabled" {
			t.Errorf("%s: cluster settings %v", stack, cluster.In("settings"))
		}
		apiImage := mustFind(t, res, "docker:index/image:Image", "api").Out("repoDigest")
		password := mustFind(t, res, "aws:ssm/parameter:Parameter", "cluster-database-password")
		if password.Str("type") != "SecureString" || !password.IsSecretInput("value") || password.Str("value") != testDBPassword {
			t.Errorf("%s: database password parameter %v", stack, password.Inputs)
		}
		master := one(t, res, "aws:rds/instance:Instance").Out("masterUserSecrets[0].secretArn")
		logs := map[string]any{"api": mustFind(t, res, "aws:cloudwatch/logGroup:LogGroup", "logs-api").Out("name"),
			"worker": mustFind(t, res, "aws:cloudwatch/logGroup:LogGroup", "logs-worker").Out("name")}
		for _, svc := range []string{"api", "worker"} {
			td := mustFind(t, res, "aws:ecs/taskDefinition:TaskDefinition", "cluster-"+svc)
			if td.Str("networkMode") != "awsvpc" || !slices.Equal(strs(td.In("requiresCompatibilities")), []string{"FARGATE"}) ||
				td.Str("runtimePlatform.cpuArchitecture") != "ARM64" || td.Str("runtimePlatform.operatingSystemFamily") != "LINUX" {
				t.Errorf("%s %s: not Fargate ARM64: %v %v", stack, svc, td.In("requiresCompatibilities"), td.In("runtimePlatform"))
			}
			if td.Str("cpu") != "256" || td.Str("memory") != "512" {
				t.Errorf("%s %s: size %s/%s, want the defaults 256/512", stack, svc, td.Str("cpu"), td.Str("memory"))
			}
			cs := containersOf(t, td)
			for _, c := range cs {
				name := c["name"]
				// The same image the registry built and the host runs.
				if c["image"] != apiImage {
					t.Errorf("%s %s/%s: image %v, want the registry's api digest %v", stack, svc, name, c["image"], apiImage)
				}
				if c["readonlyRootFilesystem"] != true || c["privileged"] != false || c["user"] != "node" {
					t.Errorf("%s %s/%s: root fs/privileged/user %v %v %v", stack, svc, name, c["readonlyRootFilesystem"], c["privileged"], c["user"])
				}
				env, _ := c["environment"].([]any)
				for _, e := range env {
					kv := e.(map[string]any)
					if v := kv["value"].(string); v == testDBPassword || v == testOriginSecret || strings.Contains(strings.ToUpper(kv["name"].(string)), "PASSWORD") {
						t.Errorf("%s %s/%s: secret in plain environment %v", stack, svc, name, kv["name"])
					}
				}
				secrets := map[string]string{}
				for _, s := range c["secrets"].([]any) {
					m := s.(map[string]any)
					secrets[m["name"].(string)] = m["valueFrom"].(string)
				}
				if secrets["DATABASE_PASSWORD"] != password.Out("arn") {
					t.Errorf("%s %s/%s: DATABASE_PASSWORD from %q, want the SecureString %v", stack, svc, name, secrets["DATABASE_PASSWORD"], password.Out("arn"))
				}
				_, hasMaster := secrets["MASTER_PASSWORD"]
				if hasMaster != (name == "db-setup") {
					t.Errorf("%s %s/%s: master password injected: %v (only db-setup may hold it)", stack, svc, name, hasMaster)
				}
				if name == "db-setup" && secrets["MASTER_PASSWORD"] != master.(string)+":password::" {
					t.Errorf("%s: db-setup master secret %q", stack, secrets["MASTER_PASSWORD"])
				}
				opts := c["logConfiguration"].(map[string]any)["options"].(map[string]any)
				if c["logConfiguration"].(map[string]any)["logDriver"] != "awslogs" || opts["awslogs-group"] != logs[svc] {
					t.Errorf("%s %s/%s: logs %v, want the group %v", stack, svc, name, c["logConfiguration"], logs[svc])
				}
				if c["linuxParameters"].(map[string]any)["initProcessEnabled"] != true {
					t.Errorf("%s %s/%s: no init process for ECS Exec", stack, svc, name)
				}
			}
			if svc == "api" {
				// db-setup, then migrate, then the API: each only after the
				// previous exited 0, so a failed migration never serves.
				setup, migrate, api := byName(cs, "db-setup"), byName(cs, "migrate"), byName(cs, "api")
				if setup == nil || migrate == nil || api == nil || setup["essential"] != false || migrate["essential"] != false || api["essential"] != true {
					t.Fatalf("%s: api task containers %v", stack, cs)
				}
				if mustJSON(migrate["dependsOn"]) != `[{"condition":"SUCCESS","containerName":"db-setup"}]` ||
					mustJSON(api["dependsOn"]) != `[{"condition":"SUCCESS","containerName":"migrate"}]` {
					t.Errorf("%s: dependsOn %v / %v", stack, migrate["dependsOn"], api["dependsOn"])
				}
				if !strings.Contains(mustJSON(migrate["command"]), "migrate(pool,log)") || !strings.Contains(mustJSON(setup["command"]), "NOSUPERUSER") {
					t.Errorf("%s: setup/migrate commands %v %v", stack, setup["command"], migrate["command"])
				}
				if mustJSON(api["portMappings"]) != `[{"containerPort":3000,"protocol":"tcp"}]` {
					t.Errorf("%s: api ports %v", stack, api["portMappings"])
				}
				env := mustJSON(api["environment"])
				if !strings.Contains(env, `"DATABASE_USER","value":"app"`) || !strings.Contains(env, `"PGSSLMODE","value":"no-verify"`) ||
					!strings.Contains(env, `"DATABASE_HOST","value":"slipway-`+stack+`-db.`) {
					t.Errorf("%s: api environment %s", stack, env)
				}
			} else if w := byName(cs, "worker"); w == nil || mustJSON(w["command"]) != `["node","src/worker.js"]` || w["stopTimeout"] != 45.0 {
				t.Errorf("%s: worker container %v", stack, w)
			}
		}
	}
}

func TestECSServicesDeployWithoutDroppingCapacity(t *testing.T) {
	for _, stack := range ecsStacks {
		res := deploy(t, stack, onECSFor(stack))
		tg := one(t, res, "aws:lb/targetGroup:TargetGroup")
		tasksSG := mustFind(t, res, "aws:ec2/securityGroup:SecurityGroup", "cluster-tasks")
		for _, svc := range []string{"api", "worker"} {
			s := mustFind(t, res, "aws:ecs/service:Service", "cluster-"+svc)
			td := mustFind(t, res, "aws:ecs/taskDefinition:TaskDefinition", "cluster-"+svc)
			if s.In("taskDefinition") != td.Out("arn") || s.Str("launchType") != "FARGATE" {
				t.Errorf("%s %s: task definition %v launch %v", stack, svc, s.In("taskDefinition"), s.In("launchType"))
			}
			if s.In("deploymentMinimumHealthyPercent") != 100.0 || s.In("deploymentMaximumPercent") != 200.0 {
				t.Errorf("%s %s: deployment %v/%v, want 100/200", stack, svc, s.In("deploymentMinimumHealthyPercent"), s.In("deploymentMaximumPercent"))
			}
			if s.In("deploymentCircuitBreaker.enable") != true || s.In("deploymentCircuitBreaker.rollback") != true {
				t.Errorf("%s %s: circuit breaker %v", stack, svc, s.In("deploymentCircuitBreaker"))
			}
			if s.In("waitForSteadyState") != true || s.In("enableExecuteCommand") != true {
				t.Errorf("%s %s: waitForSteadyState %v, ECS Exec %v", stack, svc, s.In("waitForSteadyState"), s.In("enableExecuteCommand"))
			}
			if !slices.Contains(s.IgnoreChanges, "desiredCount") {
				t.Errorf("%s %s: autoscaling's desired count would be reset by every up", stack, svc)
			}
			// Public IPs instead of a NAT gateway (ECS.2 waived, docs/scaling.md);
			// only the tasks' own group.
			if s.In("networkConfiguration.assignPublicIp") != true || !slices.Equal(strs(s.In("networkConfiguration.securityGroups")), []string{tasksSG.ID}) ||
				len(strs(s.In("networkConfiguration.subnets"))) != 2 {
				t.Errorf("%s %s: network %v", stack, svc, s.In("networkConfiguration"))
			}
			lbs, _ := s.In("loadBalancers").([]any)
			if (svc == "api") != (len(lbs) == 1) {
				t.Errorf("%s %s: load balancers %v", stack, svc, lbs)
			} else if svc == "api" && (s.Str("loadBalancers[0].targetGroupArn") != tg.Out("arn") || s.In("loadBalancers[0].containerPort") != 3000.0) {
				t.Errorf("%s: api target %v", stack, lbs)
			}
		}
		if n := len(res.ByType("aws:ec2/natGateway:NatGateway")) + len(res.ByType("aws:ec2/vpcEndpoint:VpcEndpoint")); n != 0 {
			t.Errorf("%s: %d NAT gateways or endpoints (the profile reaches AWS over the tasks' public IPs)", stack, n)
		}
	}
}

// A deploy that ECS rolled back (the circuit breaker stopped the new
// tasks) must fail `pulumi up`, not report success on the old version.
// The offline cloud answers the read-back with the previous revision,
// which is what a rolled-back service reports.
func TestECSRolledBackDeployFailsUp(t *testing.T) {
	files := stackFiles(t, "pr-7")
	onECSFor("pr-7")(&files)
	if _, err := mockcloud.Run(program.Build, "slipway", "pr-7", files, false); err != nil {
		t.Fatalf("a deploy ECS kept failed: %v", err)
	}
	t.Setenv(mockcloud.RolledBackEnv, "cluster-api")
	_, err := mockcloud.Run(program.Build, "slipway", "pr-7", files, false)
	if err == nil || !strings.Contains(err.Error(), "ECS rolled the api service back") {
		t.Fatalf("a rolled-back api deploy did not fail up: %v", err)
	}
	os.Unsetenv(mockcloud.RolledBackEnv)
}

func TestECSTaskRolesAreLeastPrivilegePerService(t *testing.T) {
	for _, stack := range ecsStacks {
		res := deploy(t, stack, onECSFor(stack))
		queueARN := mustFind(t, res, "aws:sqs/queue:Queue", "queue").Out("arn")
		actions := func(role string) map[string][]string {
			p := mustFind(t, res, "aws:iam/rolePolicy:RolePolicy", role)
			out := map[string][]string{}
			for _, st := range parsePolicy(t, p.Str("policy")).Statement {
				if st.Effect != "Allow" {
					t.Errorf("%s %s: %s statement", stack, role, st.Effect)
				}
				for _, a := range strs(st.Action) {
					out[a] = append(out[a], strs(st.Resource)...)
				}
			}
			return out
		}
		for _, r := range []string{"cluster-api-task", "cluster-worker-task", "cluster-api-execution", "cluster-worker-execution"} {
			role := mustFind(t, res, "aws:iam/role:Role", r)
			if role.In("permissionsBoundary") == nil || role.Str("path") != "/slipway/" {
				t.Errorf("%s %s: boundary %v path %v", stack, r, role.In("permissionsBoundary"), role.In("path"))
			}
			if !strings.Contains(role.Str("assumeRolePolicy"), "ecs-tasks.amazonaws.com") || !strings.Contains(role.Str("assumeRolePolicy"), "aws:SourceAccount") {
				t.Errorf("%s %s: trust %s", stack, r, role.Str("assumeRolePolicy"))
			}
		}
		api, worker := actions("cluster-api-task"), actions("cluster-worker-task")
		if !slices.Equal(api["sqs:SendMessage"], []string{queueARN.(string)}) || api["sqs:ReceiveMessage"] != nil || api["sqs:DeleteMessage"] != nil {
			t.Errorf("%s: api task role queue rights %v", stack, api)
		}
		if worker["sqs:SendMessage"] != nil || !slices.Equal(worker["sqs:ReceiveMessage"], []string{queueARN.(string)}) || worker["sqs:DeleteMessage"] == nil {
			t.Errorf("%s: worker task role queue rights %v", stack, worker)
		}
		for _, role := range []map[string][]string{api, worker} {
			for a := range role {
				if strings.HasPrefix(a, "ssm:Get") || strings.HasPrefix(a, "secretsmanager:") || strings.HasPrefix(a, "kms:") {
					t.Errorf("%s: a task role reads secrets at run time: %s", stack, a)
				}
			}
			if role["ssmmessages:OpenDataChannel"] == nil {
				t.Errorf("%s: no ECS Exec channel rights", stack)
			}
		}
		apiExec, workerExec := actions("cluster-api-execution"), actions("cluster-worker-execution")
		master := one(t, res, "aws:rds/instance:Instance").Out("masterUserSecrets[0].secretArn").(string)
		if !slices.Equal(apiExec["secretsmanager:GetSecretValue"], []string{master}) || workerExec["secretsmanager:GetSecretValue"] != nil {
			t.Errorf("%s: master secret readable by %v (api) %v (worker)", stack, apiExec["secretsmanager:GetSecretValue"], workerExec["secretsmanager:GetSecretValue"])
		}
		for svc, e := range map[string]map[string][]string{"api": apiExec, "worker": workerExec} {
			group := mustFind(t, res, "aws:cloudwatch/logGroup:LogGroup", "logs-"+svc).Out("arn").(string)
			if !slices.Equal(e["logs:PutLogEvents"], []string{group, group + ":*"}) {
				t.Errorf("%s: %s execution role writes logs to %v, want its own group only", stack, svc, e["logs:PutLogEvents"])
			}
		}
		password := mustFind(t, res, "aws:ssm/parameter:Parameter", "cluster-database-password").Out("arn").(string)
		for _, e := range []map[string][]string{apiExec, workerExec} {
			if !slices.Equal(e["ssm:GetParameters"], []string{password}) || e["ecr:BatchGetImage"] == nil || e["logs:PutLogEvents"] == nil {
				t.Errorf("%s: execution role %v", stack, e)
			}
		}
	}
}

func TestLoadBalancerOnlyCloudFrontReaches(t *testing.T) {
	for _, stack := range ecsStacks {
		res := deploy(t, stack, onECSFor(stack))
		alb := one(t, res, "aws:lb/loadBalancer:LoadBalancer")
		prod := stack == "prod"
		if alb.In("dropInvalidHeaderFields") != true || alb.In("internal") != false || alb.Str("loadBalancerType") != "application" ||
			alb.Str("xffHeaderProcessingMode") != "preserve" {
			t.Errorf("%s: load balancer %v", stack, alb.Inputs)
		}
		if alb.In("enableDeletionProtection") != prod || (alb.In("accessLogs.enabled") == true) != prod {
			t.Errorf("%s: deletion protection %v, access logs %v (prod only)", stack, alb.In("enableDeletionProtection"), alb.In("accessLogs"))
		}
		if len(alb.Str("name")) > 32 {
			t.Errorf("%s: load balancer name %q longer than 32", stack, alb.Str("name"))
		}
		if prod {
			bucket := mustFind(t, res, "aws:s3/bucketV2:BucketV2", "loadbalancer-logs")
			if alb.In("accessLogs.bucket") != bucket.Out("bucket") {
				t.Errorf("prod: access logs to %v, want %v", alb.In("accessLogs.bucket"), bucket.Out("bucket"))
			}
			policy := mustFind(t, res, "aws:s3/bucketPolicy:BucketPolicy", "loadbalancer-logs").Str("policy")
			if !strings.Contains(policy, "arn:aws:iam::127311923021:root") || !strings.Contains(policy, "/AWSLogs/123456789012/*") {
				t.Errorf("prod: log bucket policy %s", policy)
			}
		}
		lbSG := mustFind(t, res, "aws:ec2/securityGroup:SecurityGroup", "loadbalancer")
		for _, r := range res.ByType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
			if r.In("securityGroupId") != lbSG.ID {
				continue
			}
			if r.Name != "loadbalancer-http-from-cloudfront" || !strings.HasPrefix(r.Str("prefixListId"), "pl-") || r.In("cidrIpv4") != nil || r.In("fromPort") != 80.0 {
				t.Errorf("%s: load balancer admits %v", stack, r.Inputs)
			}
		}
		listener := one(t, res, "aws:lb/listener:Listener")
		if listener.Str("defaultActions[0].type") != "fixed-response" || listener.Str("defaultActions[0].fixedResponse.statusCode") != "403" {
			t.Errorf("%s: default action %v: a request without the origin header must get 403", stack, listener.In("defaultActions"))
		}
		rule := one(t, res, "aws:lb/listenerRule:ListenerRule")
		if rule.Str("conditions[0].httpHeader.httpHeaderName") != "X-Origin-Verify" ||
			!slices.Equal(strs(rule.In("conditions[0].httpHeader.values")), []string{testOriginSecret}) ||
			rule.Str("actions[0].type") != "forward" || rule.Str("actions[0].targetGroupArn") != one(t, res, "aws:lb/targetGroup:TargetGroup").Out("arn") {
			t.Errorf("%s: origin rule %v", stack, rule.Inputs)
		}
		if !rule.IsSecretInput("conditions") {
			t.Errorf("%s: the origin secret is in plain text in the listener rule's state", stack)
		}
		down := mustFind(t, res, "aws:cloudwatch/metricAlarm:MetricAlarm", "loadbalancer-api-healthy")
		topic := one(t, res, "aws:sns/topic:Topic").Out("arn")
		if down.Str("metricName") != "HealthyHostCount" || down.Str("treatMissingData") != "breaching" ||
			!slices.Equal(strs(down.In("alarmActions")), []string{topic.(string)}) {
			t.Errorf("%s: API-down alarm %v", stack, down.Inputs)
		}
		tg := one(t, res, "aws:lb/targetGroup:TargetGroup")
		if tg.Str("healthCheck.path") != "/readyz" || tg.Str("targetType") != "ip" || tg.In("port") != 3000.0 || tg.In("deregistrationDelay") != 30.0 {
			t.Errorf("%s: target group %v", stack, tg.Inputs)
		}
	}
}

func TestRDSPostgres(t *testing.T) {
	dockerfile, err := os.ReadFile("../app/db/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	major := regexp.MustCompile(`(?m)^FROM postgres:(\d+)`).FindSubmatch(dockerfile)
	if major == nil {
		t.Fatal("app/db/Dockerfile: no FROM postgres:<major>")
	}
	for _, stack := range ecsStacks {
		res := deploy(t, stack, onECSFor(stack))
		db := one(t, res, "aws:rds/instance:Instance")
		prod := stack == "prod"
		if db.Str("engine") != "postgres" || db.Str("engineVersion") != string(major[1]) {
			t.Errorf("%s: engine %s %s, want postgres %s as app/db", stack, db.Str("engine"), db.Str("engineVersion"), major[1])
		}
		want := map[string]any{
			"storageEncrypted": true, "publiclyAccessible": false, "manageMasterUserPassword": true, "autoMinorVersionUpgrade": true,
			"multiAz": prod, "deletionProtection": prod, "skipFinalSnapshot": !prod, "instanceClass": "db.t4g.micro",
			"performanceInsightsEnabled": true, "storageType": "gp3", "username": "slipway_admin",
		}
		for k, v := range want {
			if db.In(k) != v {
				t.Errorf("%s: rds %s = %v, want %v", stack, k, db.In(k), v)
			}
		}
		if db.In("password") != nil {
			t.Errorf("%s: a master password passes through config", stack)
		}
		if r, _ := db.In("backupRetentionPeriod").(float64); r < 14 {
			t.Errorf("%s: point-in-time recovery %v days, want at least 14", stack, db.In("backupRetentionPeriod"))
		}
		if db.Str("backupWindow") == "" || db.Str("maintenanceWindow") == "" {
			t.Errorf("%s: windows %q %q", stack, db.Str("backupWindow"), db.Str("maintenanceWindow"))
		}
		if !slices.Equal(strs(db.In("enabledCloudwatchLogsExports")), []string{"postgresql", "upgrade"}) {
			t.Errorf("%s: log exports %v", stack, db.In("enabledCloudwatchLogsExports"))
		}
		if db.Protect != prod || db.RetainOnDelete != prod || (db.Str("finalSnapshotIdentifier") != "") != prod {
			t.Errorf("%s: protect %v retain %v final snapshot %q (prod only)", stack, db.Protect, db.RetainOnDelete, db.Str("finalSnapshotIdentifier"))
		}
		params := one(t, res, "aws:rds/parameterGroup:ParameterGroup")
		if db.In("parameterGroupName") != params.Out("name") || params.Out("name") == nil {
			t.Errorf("%s: parameter group %v", stack, db.In("parameterGroupName"))
		}
		if params.Str("family") != "postgres"+string(major[1]) || !strings.Contains(mustJSON(params.In("parameters")), `"name":"rds.force_ssl","value":"1"`) {
			t.Errorf("%s: parameters %v", stack, params.In("parameters"))
		}
		// Reachable only from the tasks' security group.
		dbSG := mustFind(t, res, "aws:ec2/securityGroup:SecurityGroup", "database")
		tasksSG := mustFind(t, res, "aws:ec2/securityGroup:SecurityGroup", "cluster-tasks")
		if !slices.Equal(strs(db.In("vpcSecurityGroupIds")), []string{dbSG.ID}) {
			t.Errorf("%s: rds groups %v", stack, db.In("vpcSecurityGroupIds"))
		}
		n := 0
		for _, r := range res.ByType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
			if r.In("securityGroupId") == dbSG.ID {
				n++
				if r.In("referencedSecurityGroupId") != tasksSG.ID || r.In("fromPort") != 5432.0 || r.In("cidrIpv4") != nil {
					t.Errorf("%s: database admits %v", stack, r.Inputs)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s: %d ingress rules on the database's group, want the tasks' only", stack, n)
		}
		for _, a := range []string{"database-cpu", "database-free-storage", "database-connections"} {
			alarm := mustFind(t, res, "aws:cloudwatch/metricAlarm:MetricAlarm", a)
			if alarm.Str("namespace") != "AWS/RDS" || len(strs(alarm.In("alarmActions"))) != 1 {
				t.Errorf("%s: alarm %s %v", stack, a, alarm.Inputs)
			}
		}
	}
}

func TestAutoscaling(t *testing.T) {
	for _, stack := range ecsStacks {
		res := deploy(t, stack, onECSFor(stack))
		min := map[string]float64{"api": 1, "worker": 0}
		if stack == "prod" {
			min = map[string]float64{"api": 2, "worker": 1}
		}
		for svc, max := range map[string]float64{"api": 4, "worker": 2} {
			target := mustFind(t, res, "aws:appautoscaling/target:Target", "autoscaling-"+svc)
			if target.In("minCapacity") != min[svc] || target.In("maxCapacity") != max || target.Str("scalableDimension") != "ecs:service:DesiredCount" {
				t.Errorf("%s %s: scaling %v..%v", stack, svc, target.In("minCapacity"), target.In("maxCapacity"))
			}
		}
		requests := mustFind(t, res, "aws:appautoscaling/policy:Policy", "autoscaling-api-requests")
		label := requests.Str("targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification.resourceLabel")
		if requests.Str("targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification.predefinedMetricType") != "ALBRequestCountPerTarget" ||
			!strings.HasPrefix(label, "app/") || !strings.Contains(label, "/targetgroup/") {
			t.Errorf("%s: api request scaling %v", stack, requests.In("targetTrackingScalingPolicyConfiguration"))
		}
		backlog := mustFind(t, res, "aws:appautoscaling/policy:Policy", "autoscaling-worker-backlog")
		metrics := mustJSON(backlog.In("targetTrackingScalingPolicyConfiguration.customizedMetricSpecification.metrics"))
		for _, want := range []string{"ApproximateNumberOfMessagesVisible", "RunningTaskCount", `visible / IF(FILL(running, 0) \u003e 0, FILL(running, 0), 1)`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("%s: backlog per task lacks %s: %s", stack, want, metrics)
			}
		}
		start := mustFind(t, res, "aws:appautoscaling/policy:Policy", "autoscaling-worker-start")
		if start.Str("policyType") != "StepScaling" || start.In("stepScalingPolicyConfiguration.stepAdjustments[0].scalingAdjustment") != 1.0 {
			t.Errorf("%s: 0 -> 1 rule %v", stack, start.Inputs)
		}
		startAlarm := mustFind(t, res, "aws:cloudwatch/metricAlarm:MetricAlarm", "autoscaling-worker-start")
		if !slices.Contains(strs(startAlarm.In("alarmActions")), start.Out("arn").(string)) {
			t.Errorf("%s: the 0 -> 1 alarm does not trigger the policy", stack)
		}
		_, stops := res.Find("aws:appautoscaling/policy:Policy", "autoscaling-worker-stop")
		if stops != (stack != "prod") {
			t.Errorf("%s: scale to zero %v, want it where the minimum is 0 only", stack, stops)
		}
	}
}

// host + rds is valid: the host stays, the database moves to RDS and the
// host's security group may reach it; ecs + container is refused.
func TestHostWithRDS(t *testing.T) {
	res := deploy(t, "prod", func(f *stacks.Files) { f.Values["slipway:database"] = "rds" })
	one(t, res, "aws:ec2/instance:Instance")
	db := one(t, res, "aws:rds/instance:Instance")
	if len(res.ByType("aws:ecs/cluster:Cluster")) != 0 || len(res.ByType("aws:lb/loadBalancer:LoadBalancer")) != 0 {
		t.Error("host+rds built ECS")
	}
	hostSG := mustFind(t, res, "aws:ec2/securityGroup:SecurityGroup", "network-host")
	dbSG := mustFind(t, res, "aws:ec2/securityGroup:SecurityGroup", "database")
	in := mustFind(t, res, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "database-from-host")
	out := mustFind(t, res, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "database-from-host")
	if in.In("securityGroupId") != dbSG.ID || in.In("referencedSecurityGroupId") != hostSG.ID ||
		out.In("securityGroupId") != hostSG.ID || out.In("referencedSecurityGroupId") != dbSG.ID || out.In("fromPort") != 5432.0 {
		t.Errorf("host -> rds rules %v / %v", in.Inputs, out.Inputs)
	}
	if db.In("multiAz") != true {
		t.Error("prod rds not Multi-AZ")
	}

	files := stackFiles(t, "pr-7")
	files.Values["slipway:compute"] = "ecs"
	_, err := mockcloud.Run(program.Build, "slipway", "pr-7", files, false)
	if err == nil || !strings.Contains(err.Error(), `slipway:database = "container" is not accepted`) {
		t.Errorf("ecs with the container database: %v", err)
	}
}

// Routine changes (a bigger database class or disk, longer backups, more
// tasks, other task sizes) leave every input that would replace the RDS
// instance or the load balancer as it was (terraform-provider-aws
// aws_db_instance / aws_lb forces-new attributes).
func TestECSRoutineChangesDoNotReplaceState(t *testing.T) {
	forcesNew := map[string][]string{
		"aws:rds/instance:Instance":        {"identifier", "engine", "storageEncrypted", "username", "kmsKeyId", "availabilityZone", "dbName", "characterSetName"},
		"aws:lb/loadBalancer:LoadBalancer": {"name", "internal", "loadBalancerType"},
		"aws:lb/targetGroup:TargetGroup":   {"name", "port", "protocol", "targetType", "vpcId"},
		"aws:ecs/cluster:Cluster":          {"name"},
	}
	before := deploy(t, "prod", onECSFor("prod"))
	after := deploy(t, "prod", onECSFor("prod"), func(f *stacks.Files) {
		f.Values["slipway:rdsInstanceClass"] = "db.t4g.small"
		f.Values["slipway:rdsStorageSize"] = "40"
		f.Values["slipway:rdsBackupRetentionDays"] = "21"
		f.Values["slipway:apiMaxTasks"] = "8"
		f.Values["slipway:apiCpu"], f.Values["slipway:apiMemory"] = "512", "1024"
	})
	for typ, keys := range forcesNew {
		b, a := one(t, before, typ), one(t, after, typ)
		if b.URN != a.URN {
			t.Errorf("%s: URN %s -> %s", typ, b.URN, a.URN)
		}
		for _, k := range keys {
			if mustJSON(b.In(k)) != mustJSON(a.In(k)) {
				t.Errorf("%s: %s changes %v -> %v (replaces it)", typ, k, b.In(k), a.In(k))
			}
		}
	}
	if db := one(t, after, "aws:rds/instance:Instance"); db.Str("instanceClass") != "db.t4g.small" || db.In("allocatedStorage") != 40.0 {
		t.Errorf("the change did not reach RDS: %v %v", db.In("instanceClass"), db.In("allocatedStorage"))
	}
}
