package policy

import (
	"encoding/json"
	"strings"
	"testing"

	"slipway/internal/mockcloud"
	"slipway/program"
	"slipway/stacks"
)

// addPlatform adds the ECS + RDS profile's resources to a good world, as
// the baseline expects them for the world's profile. (The good world's
// service takes no public IP: SLW-ECS-001 is a warning the real profile
// fails on purpose, see TestECSProfileWarnsOnlyAboutPublicIPs.)
func addPlatform(w *world) {
	prod := w.profile == stacks.Prod
	w.add(tECSCluster, "cluster", "arn:aws:ecs:us-east-1:"+acct+":cluster/slipway", map[string]any{
		"settings": []any{map[string]any{"name": "containerInsights", "value": "enabled"}}}, nil)
	cs, _ := json.Marshal([]any{map[string]any{
		"name": "api", "image": acct + ".dkr.ecr.us-east-1.amazonaws.com/slipway-api@sha256:0123", "essential": true,
		"readonlyRootFilesystem": true, "privileged": false,
		"environment": []any{map[string]any{"name": "DATABASE_USER", "value": "app"}},
		"secrets": []any{map[string]any{"name": "DATABASE_PASSWORD",
			"valueFrom": "arn:aws:ssm:us-east-1:" + acct + ":parameter/slipway/" + w.stack + "/ecs/DATABASE_PASSWORD"}},
	}})
	w.add(tTaskDef, "cluster-api", "slipway-api", map[string]any{"containerDefinitions": string(cs)}, nil)
	w.add(tECSService, "cluster-api", "arn:aws:ecs:us-east-1:"+acct+":service/slipway-api", map[string]any{
		"networkConfiguration": map[string]any{"assignPublicIp": false, "securityGroups": []any{"sg-tasks"}}}, nil)
	w.add(tLoadBalancer, "loadbalancer", "arn:aws:elasticloadbalancing:us-east-1:"+acct+":loadbalancer/app/slipway/1", map[string]any{
		"loadBalancerType": "application", "dropInvalidHeaderFields": true, "enableDeletionProtection": prod,
		"accessLogs": map[string]any{"enabled": prod, "bucket": map[bool]string{true: "slipway-prod-alb-logs", false: ""}[prod]},
	}, nil)
	w.add(tRDSInstance, "database", "slipway-"+w.stack+"-db", map[string]any{
		"engine": "postgres", "engineVersion": "18", "publiclyAccessible": false, "storageEncrypted": true,
		"multiAz": prod, "deletionProtection": prod, "backupRetentionPeriod": 14, "autoMinorVersionUpgrade": true,
		"enabledCloudwatchLogsExports": []any{"postgresql", "upgrade"},
	}, nil)
}

func setContainer(w *world, key string, v any) {
	td := w.get(tTaskDef, "cluster-api")
	var cs []map[string]any
	_ = json.Unmarshal([]byte(td.in["containerDefinitions"].(string)), &cs)
	cs[0][key] = v
	b, _ := json.Marshal(cs)
	td.set("containerDefinitions", string(b))
}

func init() {
	for id, v := range map[string]violation{
		"SLW-ECS-001": {dev, func(w *world) { w.get(tECSService, "cluster-api").set("networkConfiguration.assignPublicIp", true) }},
		"SLW-ECS-002": {dev, func(w *world) { setContainer(w, "privileged", true) }},
		"SLW-ECS-003": {dev, func(w *world) { setContainer(w, "readonlyRootFilesystem", false) }},
		"SLW-ECS-004": {dev, func(w *world) {
			setContainer(w, "environment", []any{map[string]any{"name": "DATABASE_PASSWORD", "value": testSecret}})
		}},
		"SLW-ECS-005": {prod, func(w *world) {
			w.get(tECSCluster, "cluster").set("settings", []any{map[string]any{"name": "containerInsights", "value": "disabled"}})
		}},
		"SLW-ELB-001": {dev, func(w *world) { w.get(tLoadBalancer, "loadbalancer").set("dropInvalidHeaderFields", false) }},
		"SLW-ELB-002": {prod, func(w *world) { w.get(tLoadBalancer, "loadbalancer").set("accessLogs", nil) }},
		"SLW-ELB-003": {prod, func(w *world) { w.get(tLoadBalancer, "loadbalancer").set("enableDeletionProtection", false) }},
		"SLW-RDS-001": {review, func(w *world) { w.get(tRDSInstance, "database").set("publiclyAccessible", true) }},
		"SLW-RDS-002": {dev, func(w *world) { w.get(tRDSInstance, "database").set("storageEncrypted", false) }},
		"SLW-RDS-003": {prod, func(w *world) { w.get(tRDSInstance, "database").set("multiAz", false) }},
		"SLW-RDS-004": {prod, func(w *world) { w.get(tRDSInstance, "database").set("deletionProtection", false) }},
		"SLW-RDS-005": {dev, func(w *world) {
			w.get(tRDSInstance, "database").set("enabledCloudwatchLogsExports", []any{"postgresql"})
		}},
		"SLW-RDS-006": {dev, func(w *world) { w.get(tRDSInstance, "database").set("backupRetentionPeriod", 0) }},
		"SLW-RDS-007": {dev, func(w *world) { w.get(tRDSInstance, "database").set("autoMinorVersionUpgrade", false) }},
	} {
		violations[id] = v
	}
}

// The secret detector also catches a secret under an innocent name.
func TestECS8FindsASecretValueUnderAnyName(t *testing.T) {
	w := good(dev)
	setContainer(w, "environment", []any{map[string]any{"name": "DB_URL", "value": "postgres://app:" + testSecret + "@db/app"}})
	r, _ := ruleByID("SLW-ECS-004")
	if got := r.Evaluate(w.stackOf()); got.Status != Fail {
		t.Fatalf("a secret value in DB_URL passed: %v", got)
	}
}

// The real program with compute=ecs, database=rds passes every error
// rule in prod and in a review stack; the one deliberate gap (ECS.2,
// public IPs instead of a NAT gateway) is a warning that says why.
func TestECSProfileWarnsOnlyAboutPublicIPs(t *testing.T) {
	for _, stack := range []string{"prod", "pr-7"} {
		files, err := stacks.ReadFiles("../..", stack)
		if err != nil {
			t.Fatal(err)
		}
		files.SetSecret("slipway:dbPassword", testSecret)
		files.SetSecret("slipway:originSecret", "fixture-origin-secret-5678")
		files.Values["slipway:spaBuildDir"] = "infra/testdata/spa"
		files.Values["slipway:compute"], files.Values["slipway:database"] = "ecs", "rds"
		if stack == "prod" {
			files.Values["slipway:apiMinTasks"], files.Values["slipway:workerMinTasks"] = "2", "1"
		}
		res, err := mockcloud.Run(program.Build, "slipway", stack, files, false)
		if err != nil {
			t.Fatal(err)
		}
		profile, _ := stacks.ProfileOf(stack)
		results := Evaluate(Stack{Name: stack, Profile: profile, Region: "us-east-1", Resources: res.Resources,
			Outputs: res.Outputs, Secrets: []string{testSecret, "fixture-origin-secret-5678"}})
		applied := 0
		for _, r := range results {
			if strings.HasPrefix(r.ID, "SLW-ECS-") || strings.HasPrefix(r.ID, "SLW-ELB-") || strings.HasPrefix(r.ID, "SLW-RDS-") {
				if r.Status != NotApplicable {
					applied++
				}
			}
			switch {
			case r.ID == "SLW-ECS-001":
				if r.Status != Fail || len(r.Findings) != 2 || !strings.Contains(r.Findings[0].Message, "deliberate") {
					t.Errorf("%s: ECS.2 %s %v, want the deliberate warning on both services", stack, r.Status, r.Findings)
				}
			case r.Status == Fail:
				t.Errorf("%s: %s fails: %v", stack, r.ID, r.Findings)
			}
		}
		if want := map[string]int{"prod": 15, "pr-7": 10}[stack]; applied != want {
			t.Errorf("%s: %d ECS/ELB/RDS rules applied, want %d", stack, applied, want)
		}
	}
}
