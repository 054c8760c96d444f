package plan

import (
	"encoding/json"
	"fmt"
	"strings"

	"slipway/internal/mockcloud"
)

// metricMathAlarm describes an alarm on metric math: its expression,
// comparison and periods ("" for a plain metric alarm).
func metricMathAlarm(r mockcloud.Resource) string {
	for _, q := range list(r.In("metricQueries")) {
		m, _ := q.(map[string]any)
		if e := str(m["expression"]); e != "" && m["returnData"] == true {
			return fmt.Sprintf("%s %s %v, %v×60s", e, comparison(r.Str("comparisonOperator")), r.In("threshold"), r.In("evaluationPeriods"))
		}
	}
	return ""
}

// The detail lines of the ECS + RDS profile's types: what a reviewer must
// see before `pulumi up` (public exposure, secrets, protections, how a
// deploy fails).
func init() {
	for typ, f := range map[string]func(d *describer, r mockcloud.Resource) []string{
		"aws:ecs/cluster:Cluster": func(d *describer, r mockcloud.Resource) []string {
			for _, s := range list(r.In("settings")) {
				if m, _ := s.(map[string]any); str(m["name"]) == "containerInsights" {
					return []string{"Container Insights " + str(m["value"])}
				}
			}
			return []string{"Container Insights OFF"}
		},
		"aws:ecs/taskDefinition:TaskDefinition": func(d *describer, r mockcloud.Resource) []string {
			out := []string{r.Str("runtimePlatform.cpuArchitecture") + " " + r.Str("cpu") + " CPU / " + r.Str("memory") + " MiB"}
			var cs []map[string]any
			_ = json.Unmarshal([]byte(r.Str("containerDefinitions")), &cs)
			for _, c := range cs {
				desc := str(c["name"])
				for _, dep := range list(c["dependsOn"]) {
					m, _ := dep.(map[string]any)
					desc += " after " + str(m["containerName"]) + " " + str(m["condition"])
				}
				if c["readonlyRootFilesystem"] != true {
					desc += " WRITABLE ROOT"
				}
				if c["privileged"] == true {
					desc += " PRIVILEGED"
				}
				var secrets []string
				for _, s := range list(c["secrets"]) {
					m, _ := s.(map[string]any)
					secrets = append(secrets, str(m["name"]))
				}
				if len(secrets) > 0 {
					desc += " secrets " + strings.Join(secrets, ",")
				}
				out = append(out, desc)
			}
			return out
		},
		"aws:ecs/service:Service": func(d *describer, r mockcloud.Resource) []string {
			out := []string{fmt.Sprintf("min healthy %v%% max %v%%", r.In("deploymentMinimumHealthyPercent"), r.In("deploymentMaximumPercent"))}
			if r.In("deploymentCircuitBreaker.enable") == true && r.In("deploymentCircuitBreaker.rollback") == true {
				out = append(out, "circuit breaker + rollback")
			} else {
				out = append(out, "NO ROLLBACK")
			}
			out = append(out, d.flag(r, "waitForSteadyState", "up waits for steady state"), d.flag(r, "enableExecuteCommand", "ECS Exec"))
			if r.In("networkConfiguration.assignPublicIp") == true {
				out = append(out, "PUBLIC IP per task (no NAT; SLW-ECS-001)")
			}
			return out
		},
		"aws:lb/loadBalancer:LoadBalancer": func(d *describer, r mockcloud.Resource) []string {
			scheme := "internet-facing"
			if r.In("internal") == true {
				scheme = "internal"
			}
			return []string{scheme, d.flag(r, "dropInvalidHeaderFields", "drops invalid headers"),
				d.flag(r, "enableDeletionProtection", "deletion protection"), d.flag(r, "accessLogs.enabled", "access logs")}
		},
		"aws:lb/listener:Listener": func(d *describer, r mockcloud.Resource) []string {
			return []string{r.Str("protocol") + fmt.Sprintf(" :%v", r.In("port")),
				"default " + r.Str("defaultActions[0].type") + " " + r.Str("defaultActions[0].fixedResponse.statusCode")}
		},
		"aws:lb/listenerRule:ListenerRule": func(d *describer, r mockcloud.Resource) []string {
			// The header's value is the origin secret: named, never shown.
			return []string{fmt.Sprintf("priority %v: header %s = [secret] → %s", r.In("priority"),
				r.Str("conditions[0].httpHeader.httpHeaderName"), r.Str("actions[0].type"))}
		},
		"aws:lb/targetGroup:TargetGroup": func(d *describer, r mockcloud.Resource) []string {
			return []string{fmt.Sprintf("%s :%v (%s)", r.Str("protocol"), r.In("port"), r.Str("targetType")),
				"health " + r.Str("healthCheck.path"), fmt.Sprintf("drain %vs", r.In("deregistrationDelay"))}
		},
		"aws:rds/instance:Instance": func(d *describer, r mockcloud.Resource) []string {
			out := []string{r.Str("engine") + " " + r.Str("engineVersion"), r.Str("instanceClass"),
				fmt.Sprintf("%v GB %s", r.In("allocatedStorage"), r.Str("storageType"))}
			if r.In("storageEncrypted") != true {
				out = append(out, "UNENCRYPTED")
			}
			if r.In("publiclyAccessible") == true {
				out = append(out, "PUBLIC")
			}
			out = append(out, d.flag(r, "multiAz", "Multi-AZ"), d.flag(r, "deletionProtection", "deletion protection"),
				fmt.Sprintf("PITR %v d", r.In("backupRetentionPeriod")), d.flag(r, "manageMasterUserPassword", "master secret managed by RDS"))
			if r.In("skipFinalSnapshot") != true {
				out = append(out, "final snapshot "+r.Str("finalSnapshotIdentifier"))
			}
			return out
		},
		"aws:rds/parameterGroup:ParameterGroup": func(d *describer, r mockcloud.Resource) []string {
			out := []string{r.Str("family")}
			for _, p := range list(r.In("parameters")) {
				m, _ := p.(map[string]any)
				out = append(out, str(m["name"])+"="+str(m["value"]))
			}
			return out
		},
		"aws:appautoscaling/target:Target": func(d *describer, r mockcloud.Resource) []string {
			return []string{fmt.Sprintf("%v..%v tasks", r.In("minCapacity"), r.In("maxCapacity"))}
		},
		"aws:appautoscaling/policy:Policy": func(d *describer, r mockcloud.Resource) []string {
			if m := r.Str("targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification.predefinedMetricType"); m != "" {
				return []string{fmt.Sprintf("track %s at %v", m, r.In("targetTrackingScalingPolicyConfiguration.targetValue"))}
			}
			if r.In("targetTrackingScalingPolicyConfiguration.customizedMetricSpecification") != nil {
				return []string{fmt.Sprintf("track metric math at %v", r.In("targetTrackingScalingPolicyConfiguration.targetValue"))}
			}
			return []string{fmt.Sprintf("step %s %v", r.Str("stepScalingPolicyConfiguration.adjustmentType"),
				r.In("stepScalingPolicyConfiguration.stepAdjustments[0].scalingAdjustment"))}
		},
	} {
		details[typ] = f
	}
}
