package cost

import (
	"fmt"
	"strings"

	"slipway/internal/mockcloud"
)

// The ECS + RDS profile's prices: us-east-1 on-demand list prices as the
// issue gives them (2025), like the rest of the table written down
// offline, not fetched. Sources: aws.amazon.com/fargate/pricing,
// /elasticloadbalancing/pricing, /rds/postgresql/pricing,
// /vpc/pricing, /secrets-manager/pricing, /waf/pricing.
const (
	PlatformPricedAsOf = "2025 (us-east-1 list prices)"

	fargateARMvCPUHour = 0.03238 // Fargate Linux/ARM per vCPU-hour
	fargateARMGBHour   = 0.00356 // Fargate Linux/ARM per GB-hour
	albLCUHour         = 0.008   // per LCU-hour (the ALB's hourly price is albHour in prices.go)
	rdsT4gMicroHour    = 0.016   // db.t4g.micro PostgreSQL single-AZ; Multi-AZ is twice
	rdsGP3GBMonth      = 0.115   // RDS gp3 storage single-AZ; Multi-AZ is twice
	rdsBackupGBMonth   = 0.095   // backup storage beyond the database's size
	endpointGB         = 0.01    // interface endpoint data processed
	natGatewayGB       = 0.045   // NAT gateway data processed
	wafWebACLMonth     = 5.00    // AWS WAF per web ACL-month
	wafRuleMonth       = 1.00    // AWS WAF per rule-month (in a web ACL)
	wafMillionRequests = 0.60    // AWS WAF per million requests inspected
)

// rdsHourly are the single-AZ prices of the classes the table knows
// (PostgreSQL, us-east-1, 2025); Multi-AZ doubles them.
var rdsHourly = map[string]float64{
	"db.t4g.micro": rdsT4gMicroHour, "db.t4g.small": 0.032, "db.t4g.medium": 0.065, "db.t4g.large": 0.129,
}

// pricePlatform prices the ECS + RDS profile's resources; false for
// types it does not price.
func (e *estimator) pricePlatform(r mockcloud.Resource) bool {
	switch r.Type {
	case "aws:ecs/service:Service":
		td, ok := e.taskDefinition(r.Str("taskDefinition"))
		if !ok {
			e.unpriced = appendOnce(e.unpriced, r.Type+" "+r.Name+": task definition not found")
			return true
		}
		tasks, _ := num(r.In("desiredCount"))
		vcpu, gb := FargateSize(td)
		arch := td.Str("runtimePlatform.cpuArchitecture")
		note := "Fargate ARM, at the service's minimum task count (autoscaling adds tasks under load)"
		if arch != "ARM64" {
			note = "priced at the ARM rate; x86 Fargate costs about 25 % more"
		}
		e.add(r, Fixed, fmt.Sprintf("%.0f task(s) × %.2f vCPU, %.1f GB × 730 h", tasks, vcpu, gb),
			tasks*FargateTaskHourly(vcpu, gb)*HoursPerMonth, note)
		if r.In("networkConfiguration.assignPublicIp") == true {
			e.add(r, Fixed, fmt.Sprintf("%.0f public IPv4 address(es)", tasks), tasks*publicIPv4Hour*HoursPerMonth, "one per task (no NAT gateway)")
		}
	case "aws:rds/instance:Instance":
		class := r.Str("instanceClass")
		multi := 1.0
		note := "single-AZ"
		if r.In("multiAz") == true {
			multi, note = 2, "Multi-AZ (twice single-AZ)"
		}
		hourly, ok := rdsHourly[class]
		if !ok {
			e.unpriced = appendOnce(e.unpriced, r.Type+" "+r.Name+": instance class "+class+" not in the table")
		} else {
			e.add(r, Fixed, fmt.Sprintf("%s × 730 h", class), multi*hourly*HoursPerMonth, note)
		}
		size, _ := num(r.In("allocatedStorage"))
		e.add(r, Fixed, fmt.Sprintf("gp3 storage %.0f GB", size), multi*size*rdsGP3GBMonth, note)
		if r.In("manageMasterUserPassword") == true {
			e.add(r, Fixed, "managed master secret", secretMonth, "Secrets Manager, rotated by RDS")
		}
		// Backups up to the database's size are free; with the default
		// 14 days of PITR on a small, mostly idle database, assume none
		// beyond it at idle.
		e.add(r, Usage, "backup storage beyond the database's size: ~0 GB", 0, fmt.Sprintf("$%.3f per GB-month beyond it", rdsBackupGBMonth))
	case "aws:wafv2/webAcl:WebAcl":
		// The api firewall (infra's waf.go): nginx's maintenance mode and
		// write limits, on the load balancer.
		rules := float64(len(list(r.In("rules"))))
		e.add(r, Fixed, "web ACL", wafWebACLMonth, "")
		e.add(r, Fixed, fmt.Sprintf("%.0f rules", rules), rules*wafRuleMonth, fmt.Sprintf("$%.2f per rule-month", wafRuleMonth))
		req := e.traffic.CloudFrontRequests
		e.add(r, Usage, fmt.Sprintf("%.1fM requests inspected", req/1e6), req/1e6*wafMillionRequests,
			"upper bound: every CloudFront request counted as one the API's load balancer receives")
	default:
		return false
	}
	return true
}

// WAFMonthly is a web ACL's month with rules rules and millions million
// requests inspected.
func WAFMonthly(rules int, millions float64) float64 {
	return wafWebACLMonth + float64(rules)*wafRuleMonth + millions*wafMillionRequests
}

// FargateSize is a task definition's vCPU and GB.
func FargateSize(td mockcloud.Resource) (vcpu, gb float64) {
	var cpu, mem float64
	fmt.Sscan(td.Str("cpu"), &cpu)
	fmt.Sscan(td.Str("memory"), &mem)
	return cpu / 1024, mem / 1024
}

// FargateTaskHourly is one ARM task's price per hour.
func FargateTaskHourly(vcpu, gb float64) float64 {
	return vcpu*fargateARMvCPUHour + gb*fargateARMGBHour
}

// RDSHourly is a class's PostgreSQL price per hour (Multi-AZ doubled).
func RDSHourly(class string, multiAZ bool) (float64, bool) {
	h, ok := rdsHourly[class]
	if multiAZ {
		h *= 2
	}
	return h, ok
}

// ALBMonthly is a load balancer's month at an average LCU load.
func ALBMonthly(lcu float64) float64 { return (albHour + lcu*albLCUHour) * HoursPerMonth }

// NetworkOptionMonthly is the monthly cost of reaching ECR, SSM, SQS and
// CloudWatch from tasks, by option, for tasks tasks and gb GB a month:
// public IPs (one per task), a NAT gateway, or interface endpoints
// (endpoints in zones zones).
func NetworkOptionMonthly(option string, tasks, gb float64, endpoints, zones int) float64 {
	switch option {
	case "public-ip":
		return tasks * publicIPv4Hour * HoursPerMonth
	case "nat":
		return natGatewayHour*HoursPerMonth + gb*natGatewayGB
	case "endpoints":
		return float64(endpoints*zones)*endpointAZHour*HoursPerMonth + gb*endpointGB
	}
	return 0
}

func (e *estimator) taskDefinition(arn string) (mockcloud.Resource, bool) {
	for _, r := range e.res {
		if r.Type == "aws:ecs/taskDefinition:TaskDefinition" && (r.Out("arn") == arn || strings.HasSuffix(arn, "/"+r.Str("family")+":1")) {
			return r, true
		}
	}
	return mockcloud.Resource{}, false
}
