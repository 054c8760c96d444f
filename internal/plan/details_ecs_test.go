package plan

import (
	"strings"
	"testing"
)

// The ECS + RDS rules apply only when a stack switches profile: on the
// default (host, container) stacks they are n/a.
func init() {
	ids := []string{"SLW-ECS-001", "SLW-ECS-002", "SLW-ECS-003", "SLW-ECS-004", "SLW-ECS-005", "SLW-ELB-001",
		"SLW-ELB-002", "SLW-ELB-003", "SLW-RDS-001", "SLW-RDS-002", "SLW-RDS-003", "SLW-RDS-004", "SLW-RDS-005",
		"SLW-RDS-006", "SLW-RDS-007"}
	for stack := range notApplicable {
		notApplicable[stack] = append(notApplicable[stack], ids...)
	}
}

func TestDetailsOfThePlatformTypes(t *testing.T) {
	d := &describer{}
	for _, c := range []struct {
		typ  string
		in   map[string]any
		want []string
	}{
		{"aws:ecs/service:Service", map[string]any{"deploymentMinimumHealthyPercent": 100, "deploymentMaximumPercent": 200,
			"deploymentCircuitBreaker": map[string]any{"enable": true, "rollback": true}, "waitForSteadyState": true,
			"networkConfiguration": map[string]any{"assignPublicIp": true}},
			[]string{"min healthy 100% max 200%", "circuit breaker + rollback", "up waits for steady state", "PUBLIC IP per task"}},
		{"aws:ecs/taskDefinition:TaskDefinition", map[string]any{"cpu": "256", "memory": "512",
			"runtimePlatform":      map[string]any{"cpuArchitecture": "ARM64"},
			"containerDefinitions": `[{"name":"migrate","readonlyRootFilesystem":true,"dependsOn":[{"containerName":"db-setup","condition":"SUCCESS"}]},{"name":"api","secrets":[{"name":"DATABASE_PASSWORD"}]}]`},
			[]string{"ARM64 256 CPU / 512 MiB", "migrate after db-setup SUCCESS", "api WRITABLE ROOT secrets DATABASE_PASSWORD"}},
		{"aws:lb/listenerRule:ListenerRule", map[string]any{"priority": 10,
			"conditions": []any{map[string]any{"httpHeader": map[string]any{"httpHeaderName": "X-Origin-Verify", "values": []any{"s3cr3t-value"}}}},
			"actions":    []any{map[string]any{"type": "forward"}}},
			[]string{"header X-Origin-Verify = [secret] → forward"}},
		{"aws:rds/instance:Instance", map[string]any{"engine": "postgres", "engineVersion": "18", "instanceClass": "db.t4g.micro",
			"storageEncrypted": true, "multiAz": true, "backupRetentionPeriod": 14, "skipFinalSnapshot": false, "finalSnapshotIdentifier": "slipway-prod-db-final"},
			[]string{"postgres 18", "Multi-AZ", "PITR 14 d", "final snapshot slipway-prod-db-final"}},
	} {
		got := d.describe(rec(c.typ, c.in))
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", c.typ, got, w)
			}
		}
		if strings.Contains(got, "s3cr3t") {
			t.Errorf("%s: the secret is shown: %q", c.typ, got)
		}
	}
}
