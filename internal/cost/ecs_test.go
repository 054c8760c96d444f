package cost

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"slipway/internal/mockcloud"
	"slipway/program"
	"slipway/stacks"
)

// The profile's prices are the (us-east-1, 2025), pinned.
func TestPlatformPricesArePinned(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"Fargate ARM 0.25 vCPU / 0.5 GB task-month", FargateTaskHourly(0.25, 0.5) * HoursPerMonth, 7.209},
		{"Fargate ARM 1 vCPU / 2 GB task-month", FargateTaskHourly(1, 2) * HoursPerMonth, 28.835},
		{"db.t4g.micro single-AZ month", mustRDS(t, false) * HoursPerMonth, 11.68},
		{"db.t4g.micro Multi-AZ month", mustRDS(t, true) * HoursPerMonth, 23.36},
		{"ALB idle month", ALBMonthly(0), 16.425},
		{"ALB at 1 LCU month", ALBMonthly(1), 22.265},
		{"public IPv4 per task month", NetworkOptionMonthly("public-ip", 1, 0, 0, 0), 3.65},
		{"NAT gateway month + 10 GB", NetworkOptionMonthly("nat", 0, 10, 0, 0), 33.3},
		{"7 interface endpoints × 2 zones + 10 GB", NetworkOptionMonthly("endpoints", 0, 10, 7, 2), 102.3},
		{"WAF web ACL, 3 rules, 2 M requests", WAFMonthly(3, 2), 9.2},
		{"WAF web ACL, 3 rules, 100 M requests", WAFMonthly(3, 100), 68},
	} {
		if !near(round(c.got), c.want) {
			t.Errorf("%s: %v, want %v", c.name, round(c.got), c.want)
		}
	}
	if wafWebACLMonth != 5 || wafRuleMonth != 1 || wafMillionRequests != 0.6 {
		t.Error("a WAF price changed")
	}
	if rdsGP3GBMonth != 0.115 || rdsBackupGBMonth != 0.095 || albLCUHour != 0.008 || endpointAZHour != 0.01 || natGatewayHour != 0.045 || publicIPv4Hour != 0.005 {
		t.Error("a price of the issue's table changed")
	}
}

func mustRDS(t *testing.T, multi bool) float64 {
	h, ok := RDSHourly("db.t4g.micro", multi)
	if !ok {
		t.Fatal("db.t4g.micro not priced")
	}
	return h
}

func estimateOf(t *testing.T, stack string, edit func(*stacks.Files)) Estimate {
	t.Helper()
	files, err := stacks.ReadFiles("../..", stack)
	if err != nil {
		t.Fatal(err)
	}
	files.SetSecret("slipway:dbPassword", "cost-test-db-password")
	files.SetSecret("slipway:originSecret", "cost-test-origin-secret")
	files.Values["slipway:spaBuildDir"] = "infra/testdata/spa"
	if edit != nil {
		edit(&files)
	}
	res, err := mockcloud.Run(program.Build, "slipway", stack, files, false)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := stacks.ProfileOf(stack)
	return Price(res.Resources, p)
}

// The program's ECS + RDS prod is priced line by line: two API tasks and
// one worker on Fargate with their public IPs, the load balancer, and a
// Multi-AZ db.t4g.micro with its storage and managed secret; the host,
// its volumes and its Elastic IP are gone.
func TestECSProfileIsPriced(t *testing.T) {
	host := estimateOf(t, "prod", nil)
	ecs := estimateOf(t, "prod", func(f *stacks.Files) {
		f.Values["slipway:compute"], f.Values["slipway:database"] = "ecs", "rds"
		f.Values["slipway:apiMinTasks"], f.Values["slipway:workerMinTasks"] = "2", "1"
	})
	if len(ecs.Unpriced) != 0 {
		t.Errorf("unpriced: %v", ecs.Unpriced)
	}
	want := map[string]float64{
		"cluster-api/2 task(s)":          2 * 7.20875,
		"cluster-api/2 public IPv4":      7.3,
		"cluster-worker/1 task(s)":       7.20875,
		"cluster-worker/1 public IPv4":   3.65,
		"loadbalancer/load balancer":     16.425,
		"database/db.t4g.micro":          23.36,
		"database/gp3 storage 20 GB":     4.6,
		"database/managed master secret": 0.4,
		"firewall/web ACL":               5,
		"firewall/3 rules":               3,
		"firewall/2.0M requests":         1.2,
	}
	for key, v := range want {
		name, item, _ := strings.Cut(key, "/")
		if l := line(t, ecs, name, item); !near(l.Monthly, round(v)) {
			t.Errorf("%s: %v, want %v", key, l.Monthly, round(v))
		}
	}
	for _, l := range ecs.Lines {
		if l.Type == "aws:ec2/instance:Instance" || l.Type == "aws:ec2/eip:Eip" || l.Type == "aws:ebs/volume:Volume" {
			t.Errorf("ecs prod still prices %s %s", l.Type, l.Name)
		}
	}
	t.Logf("prod fixed monthly: host %.2f, ecs %.2f (usage %.2f / %.2f)", host.FixedMonthly, ecs.FixedMonthly, host.UsageMonthly, ecs.UsageMonthly)
	// README's "Past one host" table quotes these figures.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{host.FixedMonthly, ecs.FixedMonthly, host.TotalMonthly, ecs.TotalMonthly} {
		if want := fmt.Sprintf("$%.2f", v); !strings.Contains(string(readme), want) {
			t.Errorf("README.md does not quote %s: update the Past one host table", want)
		}
	}
	if ecs.FixedMonthly <= host.FixedMonthly {
		t.Errorf("ecs prod %.2f not above the host's %.2f at idle", ecs.FixedMonthly, host.FixedMonthly)
	}
}
