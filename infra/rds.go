package infra

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// PostgresMajor is the major version of app/db/Dockerfile's image
// (postgres:18.x): the RDS instance runs the same major, so a dump of the
// host's database restores without a version jump.
const PostgresMajor = "18"

// rdsMasterUser is the master user RDS creates. The application never
// uses it: it connects as its own role (slipway:dbUser), which the API
// task's db-setup step creates (cluster.go), in host + rds mode the host
// release's db-setup (bundle.go, hostfiles/slipway-db-setup.py), or the
// move script does.
const rdsMasterUser = "slipway_admin"

// rdsLogExports are the logs RDS ships to CloudWatch (FSBP RDS.9).
var rdsLogExports = []string{"postgresql", "upgrade"}

// DatabaseArgs shapes the RDS instance.
type DatabaseArgs struct {
	Config  stacks.RDSConfig
	Profile stacks.Profile
	// Identifier is the instance's fixed name (project-stack-db): RDS
	// creates its log groups under /aws/rds/instance/<identifier>/, and
	// those groups must exist first to carry the stack's retention.
	Identifier string
	VpcID      pulumi.IDOutput
	// SubnetIDs are the network's two subnets, in two zones: RDS needs
	// two zones for the subnet group even single-AZ, and Multi-AZ uses
	// them.
	SubnetIDs []pulumi.IDOutput
	// Clients are the security groups allowed to connect (the tasks', or
	// the host's in host+rds mode), by a name for the rule.
	Clients          map[string]pulumi.IDOutput
	LogRetentionDays int
	// AlarmActions is the alarm topic (alarms are auto-named
	// slipway-<stack>-..., the names the topic accepts).
	AlarmActions []pulumi.StringInput
}

// Database is RDS for PostgreSQL for the stack.
type Database struct {
	pulumi.ResourceState

	Address pulumi.StringOutput
	Port    pulumi.IntOutput
	// MasterSecretARN is the Secrets Manager secret RDS manages for the
	// master user ({"username","password"}).
	MasterSecretARN pulumi.StringOutput
	SecurityGroupID pulumi.IDOutput
	// MasterSecretGrant reads the master secret and nothing else: the ECS
	// API task's execution role injects it into the db-setup container;
	// in host + rds mode the host role reads it for the release's db-setup
	// run (slipway.go).
	MasterSecretGrant Grant
	AlarmARNs         map[string]pulumi.StringOutput
}

// NewDatabase creates the instance, its network rules, parameter group,
// log groups and alarms.
func NewDatabase(ctx *pulumi.Context, name string, args DatabaseArgs, opts ...pulumi.ResourceOption) (*Database, error) {
	d := &Database{AlarmARNs: map[string]pulumi.StringOutput{}}
	if err := ctx.RegisterComponentResource("slipway:database:Database", name, d, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(d)
	prod := args.Profile == stacks.Prod

	// Reachable only from its clients' security groups, on 5432; no
	// egress: Postgres starts no connection of its own.
	sg, err := ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
		VpcId:       args.VpcID,
		Description: pulumi.String("Slipway RDS Postgres: 5432 from the app only"),
	}, parent)
	if err != nil {
		return nil, err
	}
	for _, client := range slices.Sorted(maps.Keys(args.Clients)) {
		if _, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-from-"+client, &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId:           sg.ID(),
			Description:               pulumi.String("Postgres from the " + client),
			IpProtocol:                pulumi.String("tcp"),
			FromPort:                  pulumi.Int(5432),
			ToPort:                    pulumi.Int(5432),
			ReferencedSecurityGroupId: args.Clients[client],
		}, parent); err != nil {
			return nil, err
		}
	}
	subnetIDs := pulumi.StringArray{}
	for _, id := range args.SubnetIDs {
		subnetIDs = append(subnetIDs, id.ToStringOutput())
	}
	subnets, err := rds.NewSubnetGroup(ctx, name, &rds.SubnetGroupArgs{
		Description: pulumi.String("Slipway database subnets, two zones"),
		SubnetIds:   subnetIDs,
	}, parent)
	if err != nil {
		return nil, err
	}
	// TLS on every connection (rds.force_ssl; FSBP has no control for it,
	// the issue asks for it): a client on plain TCP is refused.
	params, err := rds.NewParameterGroup(ctx, name, &rds.ParameterGroupArgs{
		Family:      pulumi.String("postgres" + PostgresMajor),
		Description: pulumi.String("Slipway Postgres: TLS only"),
		Parameters: rds.ParameterGroupParameterArray{
			rds.ParameterGroupParameterArgs{Name: pulumi.String("rds.force_ssl"), Value: pulumi.String("1")},
			// Statements slower than a second reach the postgresql log.
			rds.ParameterGroupParameterArgs{Name: pulumi.String("log_min_duration_statement"), Value: pulumi.String("1000")},
		},
	}, parent)
	if err != nil {
		return nil, err
	}
	// The log groups RDS would otherwise create without retention.
	var logGroups []pulumi.Resource
	for _, log := range rdsLogExports {
		g, err := cloudwatch.NewLogGroup(ctx, name+"-"+log, &cloudwatch.LogGroupArgs{
			Name:            pulumi.String(fmt.Sprintf("/aws/rds/instance/%s/%s", args.Identifier, log)),
			RetentionInDays: pulumi.Int(args.LogRetentionDays),
		}, parent)
		if err != nil {
			return nil, err
		}
		logGroups = append(logGroups, g)
	}

	instanceOpts := []pulumi.ResourceOption{parent, pulumi.DependsOn(logGroups),
		// Prod's database is protected from `pulumi destroy` and kept if
		// the resource leaves the program, as the data volume is.
		pulumi.Protect(prod), pulumi.RetainOnDelete(prod)}
	var finalSnapshot pulumi.StringPtrInput
	if prod {
		finalSnapshot = pulumi.String(args.Identifier + "-final")
	}
	inst, err := rds.NewInstance(ctx, name, &rds.InstanceArgs{
		Identifier:       pulumi.String(args.Identifier),
		Engine:           pulumi.String("postgres"),
		EngineVersion:    pulumi.String(PostgresMajor), // a prefix: RDS picks the minor and upgrades it
		InstanceClass:    pulumi.String(args.Config.InstanceClass),
		AllocatedStorage: pulumi.Int(args.Config.StorageGiB),
		// Storage autoscaling up to twice the configured size: a full
		// disk stops Postgres; the free-storage alarm says so first.
		MaxAllocatedStorage: pulumi.Int(2 * args.Config.StorageGiB),
		StorageType:         pulumi.String("gp3"),
		StorageEncrypted:    pulumi.Bool(true),
		PubliclyAccessible:  pulumi.Bool(false),
		DbSubnetGroupName:   subnets.Name,
		VpcSecurityGroupIds: pulumi.StringArray{sg.ID()},
		ParameterGroupName:  params.Name,
		Username:            pulumi.String(rdsMasterUser),
		// RDS generates the master password, keeps it in Secrets Manager
		// and rotates it; it never passes through Pulumi config or state.
		// (Secret config would put it in every stack file's ciphertext and
		// in state; the master is needed only by the db-setup step.)
		ManageMasterUserPassword: pulumi.Bool(true),
		MultiAz:                  pulumi.Bool(prod),
		BackupRetentionPeriod:    pulumi.Int(args.Config.BackupRetentionDays),
		// UTC, outside Slipway's assumed busy hours; the maintenance
		// window follows the backup window and does not overlap it.
		BackupWindow:             pulumi.String("03:00-03:30"),
		MaintenanceWindow:        pulumi.String("sun:04:00-sun:04:30"),
		AutoMinorVersionUpgrade:  pulumi.Bool(true),
		AllowMajorVersionUpgrade: pulumi.Bool(false),
		CopyTagsToSnapshot:       pulumi.Bool(true),
		DeletionProtection:       pulumi.Bool(prod),
		SkipFinalSnapshot:        pulumi.Bool(!prod),
		FinalSnapshotIdentifier:  finalSnapshot,
		// A review stack's database goes with it, backups included.
		DeleteAutomatedBackups: pulumi.Bool(!prod),
		// Prod applies changes in the maintenance window; elsewhere now.
		ApplyImmediately:             pulumi.Bool(!prod),
		EnabledCloudwatchLogsExports: pulumi.ToStringArray(rdsLogExports),
		// Database Insights standard mode with 7 days of Performance
		// Insights is the free tier.
		PerformanceInsightsEnabled:         pulumi.Bool(true),
		PerformanceInsightsRetentionPeriod: pulumi.Int(7),
		DatabaseInsightsMode:               pulumi.String("standard"),
	}, instanceOpts...)
	if err != nil {
		return nil, err
	}
	d.Address, d.Port, d.SecurityGroupID = inst.Address, inst.Port, sg.ID()
	d.MasterSecretARN = inst.MasterUserSecrets.Index(pulumi.Int(0)).SecretArn().Elem()
	d.MasterSecretGrant = Grant{
		Sid:       "ReadDatabaseMasterSecret",
		Actions:   []string{"secretsmanager:GetSecretValue"},
		Resources: pulumi.StringArray{d.MasterSecretARN},
	}
	if err := d.alarms(ctx, name, inst, args); err != nil {
		return nil, err
	}
	return d, ctx.RegisterResourceOutputs(d, pulumi.Map{
		"address":         d.Address,
		"masterSecretArn": d.MasterSecretARN,
	})
}

// maxConnections is Postgres's default max_connections on RDS,
// LEAST(DBInstanceClassMemory/9531392, 5000), for the classes whose
// memory is known here; other classes get the t4g.large figure.
func maxConnections(class string) int {
	gib := map[string]int{"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
	size := class[strings.LastIndex(class, ".")+1:]
	mem, ok := gib[size]
	if !ok {
		mem = 8
	}
	return min(mem<<30/9531392, 5000)
}

// alarms page on CPU, free storage and connections.
func (d *Database) alarms(ctx *pulumi.Context, name string, inst *rds.Instance, args DatabaseArgs) error {
	dims := pulumi.StringMap{"DBInstanceIdentifier": inst.Identifier}
	actions := pulumi.Array{}
	for _, a := range args.AlarmActions {
		actions = append(actions, a)
	}
	freeFloor := float64(args.Config.StorageGiB) * 0.1 * (1 << 30)
	conns := float64(maxConnections(args.Config.InstanceClass)) * 0.8
	for _, a := range []struct {
		short, description, metric, statistic, comparison string
		threshold                                         float64
		evaluations                                       int
	}{
		{"cpu", "RDS CPU above 80% for 15 minutes", "CPUUtilization", "Average", "GreaterThanThreshold", 80, 3},
		{"free-storage", fmt.Sprintf("RDS free storage below 10%% of %d GiB", args.Config.StorageGiB), "FreeStorageSpace", "Minimum", "LessThanThreshold", freeFloor, 1},
		{"connections", fmt.Sprintf("RDS connections above 80%% of max_connections (%d)", maxConnections(args.Config.InstanceClass)), "DatabaseConnections", "Maximum", "GreaterThanThreshold", conns, 2},
	} {
		alarm, err := cloudwatch.NewMetricAlarm(ctx, name+"-"+a.short, &cloudwatch.MetricAlarmArgs{
			AlarmDescription:   pulumi.String(a.description),
			Namespace:          pulumi.String("AWS/RDS"),
			MetricName:         pulumi.String(a.metric),
			Dimensions:         dims,
			Statistic:          pulumi.String(a.statistic),
			Period:             pulumi.Int(300),
			EvaluationPeriods:  pulumi.Int(a.evaluations),
			Threshold:          pulumi.Float64(a.threshold),
			ComparisonOperator: pulumi.String(a.comparison),
			TreatMissingData:   pulumi.String("missing"),
			AlarmActions:       actions,
			OkActions:          actions,
		}, pulumi.Parent(d))
		if err != nil {
			return err
		}
		d.AlarmARNs[a.short] = alarm.Arn
	}
	return nil
}
