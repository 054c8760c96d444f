package infra_test

import (
	"encoding/json"
	"testing"

	"slipway/internal/mockcloud"
	"slipway/internal/ops"
)

// The operations read the stack's outputs as `pulumi stack output --json`
// prints them. Here they read what the program really exports (under
// mocks, through JSON as the CLI would), for the host and the ECS profile,
// so an output renamed on one side fails here rather than on an
// operator's workstation.
func TestOperationsReadTheProgramsOutputs(t *testing.T) {
	asJSON := func(t *testing.T, res *mockcloud.Result) map[string]any {
		t.Helper()
		plain := map[string]any{}
		for k, o := range res.Outputs {
			plain[k] = o.Value
		}
		b, err := json.Marshal(plain)
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		return raw
	}
	t.Run("host", func(t *testing.T) {
		res := deploy(t, "dev")
		o, err := ops.ParseOutputs("dev", asJSON(t, res))
		if err != nil {
			t.Fatal(err)
		}
		host, _ := res.Find("aws:ec2/instance:Instance", "host")
		if o.Compute != ops.ComputeHost || o.InstanceID != mockcloud.Str(host.Out("id")) || o.Region == "" {
			t.Errorf("host outputs read as %+v (instance %s)", o, mockcloud.Str(host.Out("id")))
		}
	})
	for _, stack := range ecsStacks {
		t.Run(stack, func(t *testing.T) {
			res := deploy(t, stack, onECSFor(stack))
			o, err := ops.ParseOutputs(stack, asJSON(t, res))
			if err != nil {
				t.Fatal(err)
			}
			if o.Compute != ops.ComputeECS || o.Region == "" {
				t.Fatalf("%s: outputs read as %+v", stack, o)
			}
			cluster := res.ByType("aws:ecs/cluster:Cluster")
			if len(cluster) != 1 || o.ClusterName != mockcloud.Str(cluster[0].Out("name")) {
				t.Errorf("%s: cluster %q, recorded %v", stack, o.ClusterName, cluster)
			}
			for _, svc := range ops.ECSServices {
				r, ok := res.Find("aws:ecs/service:Service", "cluster-"+svc)
				if !ok || o.Services[svc] == "" || o.Services[svc] != mockcloud.Str(r.Out("name")) {
					t.Errorf("%s: service %s read as %q", stack, svc, o.Services[svc])
				}
				if o.TaskDefinitions[svc] == "" {
					t.Errorf("%s: no task definition for %s", stack, svc)
				}
			}
			sets := res.ByType("aws:wafv2/regexPatternSet:RegexPatternSet")
			if len(sets) != 1 || o.Maintenance.Name != mockcloud.Str(sets[0].Out("name")) ||
				o.Maintenance.ID != mockcloud.Str(sets[0].Out("id")) || o.Maintenance.Scope != "REGIONAL" {
				t.Errorf("%s: maintenance set read as %+v, recorded %v", stack, o.Maintenance, sets)
			}
		})
	}
}
