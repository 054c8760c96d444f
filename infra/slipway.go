// Package infra is Slipway's infrastructure: one ComponentResource per
// concern, each in its own file, wired together by New. Config flows one
// way: stacks.Config -> New -> components -> Outputs.
package infra

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// Stack is the built infrastructure of one stack.
type Stack struct {
	Network    *Network
	Data       *DataVolume
	Host       *Host
	Logs       *Logs
	Queue      *Queue
	Alerts     *Alerts
	Monitoring *Monitoring
	// Deployer is nil in review stacks.
	Deployer *Deployer
	region   string
}

// New builds the whole stack from its config.
func New(ctx *pulumi.Context, cfg stacks.Config) (*Stack, error) {
	p, err := newProviders(ctx, cfg)
	if err != nil {
		return nil, err
	}
	regional := pulumi.Provider(p.Regional)
	acct := lookupAccount(ctx, p.Regional, cfg.Region)

	network, err := NewNetwork(ctx, "network", NetworkArgs{
		CIDR:             cfg.Network.VPCCIDR,
		FlowLogs:         cfg.Profile == stacks.Prod,
		LogRetentionDays: cfg.Logs.RetentionDays,
		Account:          acct,
	}, regional)
	if err != nil {
		return nil, err
	}

	// The volume lives in the host's subnet's zone: EBS cannot cross zones.
	data, err := NewDataVolume(ctx, "data", DataVolumeArgs{
		SizeGiB:               cfg.Data.VolumeGiB,
		AvailabilityZone:      network.SubnetZones[0],
		Profile:               cfg.Profile,
		SnapshotRetentionDays: cfg.Data.SnapshotRetentionDays,
		BackupTag:             cfg.Project + "-" + cfg.Stack,
	}, regional)
	if err != nil {
		return nil, err
	}

	// Logs, queue and alarm topic come before the host: it gets their
	// grants, and its recovery alarm notifies the topic.
	logs, err := NewLogs(ctx, "logs", LogsArgs{RetentionDays: cfg.Logs.RetentionDays}, regional)
	if err != nil {
		return nil, err
	}
	queue, err := NewQueue(ctx, "queue", QueueArgs{Config: cfg.Queue, Account: acct}, regional)
	if err != nil {
		return nil, err
	}
	alerts, err := NewAlerts(ctx, "alerts", AlertsArgs{
		Email:           cfg.Alerts.Email,
		Account:         acct,
		AlarmNamePrefix: cfg.Project + "-" + cfg.Stack + "-",
		Global:          p.Global,
	}, regional)
	if err != nil {
		return nil, err
	}
	metrics, err := hostMetricsBootstrap()
	if err != nil {
		return nil, err
	}

	host, err := NewHost(ctx, "host", HostArgs{
		Config:          cfg.Host,
		Profile:         cfg.Profile,
		Stack:           cfg.Stack,
		SubnetID:        network.SubnetIDs[0],
		SecurityGroupID: network.HostSecurityGroupID,
		Data:            data,
		Account:         acct,
		ParameterPath:   parameterPath(cfg),
		Grants:          []Grant{logs.Grant, queue.Grant, hostMetricsGrant()},
		Bootstrap:       metrics,
		AlarmActions:    []pulumi.StringInput{alerts.TopicARN},
	}, regional)
	if err != nil {
		return nil, err
	}

	monitoring, err := NewMonitoring(ctx, "monitoring", MonitoringArgs{
		Stack:         cfg.Stack,
		Account:       acct,
		InstanceID:    host.InstanceID.ToStringOutput(),
		Queue:         queue,
		Alerts:        alerts,
		Global:        p.Global,
		DashboardName: dashboardName(cfg),
		// DistributionID: the edge's distribution id, wired at merge.
	}, regional)
	if err != nil {
		return nil, err
	}

	s := &Stack{Network: network, Data: data, Host: host, Logs: logs, Queue: queue, Alerts: alerts,
		Monitoring: monitoring, region: cfg.Region}
	// The CI identity exists for the long-lived stacks only.
	if !cfg.Profile.Ephemeral() {
		if s.Deployer, err = NewDeployer(ctx, "deploy", DeployerArgs{Config: cfg, Account: acct}, regional); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// parameterPath is the SSM path under which the stack's release and
// secrets live; the host may read only below it.
func parameterPath(cfg stacks.Config) string {
	return "/" + cfg.Project + "/" + cfg.Stack + "/"
}

// Outputs are the stack outputs, by name.
func (s *Stack) Outputs() pulumi.Map {
	out := pulumi.Map{
		"vpcId":              s.Network.VpcID,
		"instanceId":         s.Host.InstanceID,
		"publicIp":           s.Host.PublicIP,
		"ssmSessionCommand":  pulumi.Sprintf("aws ssm start-session --target %s --region %s", s.Host.InstanceID, s.region),
		"hostAmi":            s.Host.AMI,
		"latestAmi":          s.Host.LatestAMI,
		"dataVolumeId":       s.Data.VolumeID,
		"queueUrl":           s.Queue.URL,
		"deadLetterQueueUrl": s.Queue.DeadLetterURL,
		"alarmTopicArn":      s.Alerts.TopicARN,
		"dashboardUrl":       s.Monitoring.DashboardURL,
	}
	if d := s.Deployer; d != nil {
		out["deployUserName"] = d.UserName
		out["deployAccessKeyId"] = d.AccessKeyID
		out["deploySecretAccessKey"] = d.SecretAccessKey
		if d.HasRole {
			out["deployRoleArn"] = d.RoleARN
		}
	}
	return out
}
