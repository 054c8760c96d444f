package infra

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// ClusterArgs shapes the ECS cluster and its two services.
type ClusterArgs struct {
	Project, Stack, Region string
	Profile                stacks.Profile
	Platform               stacks.PlatformConfig
	// Architecture is the images' (slipway:architecture): the tasks run
	// on the same CPU the registry builds for (ARM64 by default).
	Architecture string
	Database     stacks.DatabaseConfig
	// WorkerTimeoutSeconds is the worker's budget per job; the task's
	// stop timeout is set above it so the job in hand finishes.
	WorkerTimeoutSeconds int
	ParameterPath        string

	VpcID     pulumi.IDOutput
	SubnetIDs []pulumi.IDOutput
	// Images are the registry's digests ("<repo>@sha256:…"), the same the
	// host runs; the worker runs the api image.
	Images     map[string]pulumi.StringOutput
	PullGrants []Grant
	// LogGroups are the host's groups by service: the tasks log to the
	// same groups, so `slipway logs api` reads one place in either mode.
	LogGroups map[string]pulumi.StringOutput
	LogGrant  Grant
	Queue     *Queue
	DB        *Database
	LB        *LoadBalancer

	Account             account
	PermissionsBoundary pulumi.StringInput
}

// Cluster is the ECS cluster with the api and worker services.
type Cluster struct {
	pulumi.ResourceState

	Name pulumi.StringOutput
	ARN  pulumi.StringOutput
	// TaskSecurityGroupID is the tasks' group (the database admits it).
	TaskSecurityGroupID pulumi.IDOutput
	Services            map[string]*ecs.Service
	// Deployed is, per service, the task definition ECS runs after the
	// deploy, read back from ECS; `pulumi up` fails when it is not the one
	// this deploy registered (the circuit breaker rolled back).
	Deployed map[string]pulumi.StringOutput
}

// ecsExecAgentPaths are where ECS Exec's SSM agent writes inside a
// container. With a read-only root filesystem (ECS.5) the agent needs
// them writable (aws/containers-roadmap#1359: the agent crashes
// otherwise); Fargate backs each with an ephemeral task volume.
var ecsExecAgentPaths = map[string]string{
	"managed-agents": "/managed-agents",
	"ssm-lib":        "/var/lib/amazon/ssm",
	"ssm-log":        "/var/log/amazon/ssm",
	"tmp":            "/tmp",
}

// NewCluster creates the cluster, the tasks' network rules, the task and
// execution roles, the task definitions and the services.
func NewCluster(ctx *pulumi.Context, name string, args ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{Services: map[string]*ecs.Service{}, Deployed: map[string]pulumi.StringOutput{}}
	if err := ctx.RegisterComponentResource("slipway:cluster:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)

	// Container Insights in every ECS stack, not only prod (where FSBP
	// ECS.12 asks for it): the worker's backlog per task divides by its
	// ECS/ContainerInsights RunningTaskCount (autoscaling.go).
	cluster, err := ecs.NewCluster(ctx, name, &ecs.ClusterArgs{
		Settings: ecs.ClusterSettingArray{ecs.ClusterSettingArgs{
			Name: pulumi.String("containerInsights"), Value: pulumi.String("enabled"),
		}},
	}, parent)
	if err != nil {
		return nil, err
	}
	c.Name, c.ARN = cluster.Name, cluster.Arn

	tasksSG, err := c.network(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	c.TaskSecurityGroupID = tasksSG

	// The application role's password reaches the containers as an ECS
	// secret from this SecureString, never as a plain environment value.
	password, err := ssm.NewParameter(ctx, name+"-database-password", &ssm.ParameterArgs{
		Name:        pulumi.String(args.ParameterPath + "ecs/DATABASE_PASSWORD"),
		Type:        pulumi.String("SecureString"),
		Value:       args.Database.Password.Output(),
		Description: pulumi.String("Slipway " + args.Stack + ": the application role's Postgres password (ECS secret)"),
	}, parent)
	if err != nil {
		return nil, err
	}
	for _, svc := range []string{"api", "worker"} {
		if err := c.service(ctx, name, svc, cluster, tasksSG, password, args, parent); err != nil {
			return nil, err
		}
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"clusterName":          cluster.Name,
		"apiTaskDefinition":    c.Deployed["api"],
		"workerTaskDefinition": c.Deployed["worker"],
	})
}

// network is the tasks' security group: the API port from the load
// balancer only; out to the database and to HTTPS (ECR, SSM, SQS,
// CloudWatch Logs through their public endpoints: no NAT gateway, the
// tasks have public IPs in the public subnets, docs/scaling.md).
func (c *Cluster) network(ctx *pulumi.Context, name string, args ClusterArgs, parent pulumi.ResourceOrInvokeOption) (pulumi.IDOutput, error) {
	sg, err := ec2.NewSecurityGroup(ctx, name+"-tasks", &ec2.SecurityGroupArgs{
		VpcId:       args.VpcID,
		Description: pulumi.String("Slipway ECS tasks: API port from the load balancer only"),
	}, parent)
	if err != nil {
		return pulumi.IDOutput{}, err
	}
	// The database admits the tasks (and nothing else in ecs mode).
	if _, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-database-from-tasks", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId:           args.DB.SecurityGroupID,
		Description:               pulumi.String("Postgres from the ECS tasks"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(5432),
		ToPort:                    pulumi.Int(5432),
		ReferencedSecurityGroupId: sg.ID(),
	}, parent); err != nil {
		return pulumi.IDOutput{}, err
	}
	if _, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-api-from-lb", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId:           sg.ID(),
		Description:               pulumi.String("API from the load balancer"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(apiPort),
		ToPort:                    pulumi.Int(apiPort),
		ReferencedSecurityGroupId: args.LB.SecurityGroupID,
	}, parent); err != nil {
		return pulumi.IDOutput{}, err
	}
	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-lb-to-api", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId:           args.LB.SecurityGroupID,
		Description:               pulumi.String("To the API tasks"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(apiPort),
		ToPort:                    pulumi.Int(apiPort),
		ReferencedSecurityGroupId: sg.ID(),
	}, parent); err != nil {
		return pulumi.IDOutput{}, err
	}
	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-tasks-to-database", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId:           sg.ID(),
		Description:               pulumi.String("Postgres on RDS"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(5432),
		ToPort:                    pulumi.Int(5432),
		ReferencedSecurityGroupId: args.DB.SecurityGroupID,
	}, parent); err != nil {
		return pulumi.IDOutput{}, err
	}
	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-tasks-egress-443", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId: sg.ID(),
		Description:     pulumi.String("HTTPS out: ECR, SSM, SQS, CloudWatch (public endpoints, no NAT)"),
		IpProtocol:      pulumi.String("tcp"),
		FromPort:        pulumi.Int(443),
		ToPort:          pulumi.Int(443),
		CidrIpv4:        pulumi.String("0.0.0.0/0"),
	}, parent); err != nil {
		return pulumi.IDOutput{}, err
	}
	return sg.ID(), nil
}

// serviceLogGrant lets a service's execution role write its own log
// group only (the host's daemon writes all four: Logs.Grant).
func serviceLogGrant(svc string, args ClusterArgs) Grant {
	group := pulumi.Sprintf("arn:%s:logs:%s:%s:log-group:%s", args.Account.Partition, args.Account.Region, args.Account.ID, args.LogGroups[svc])
	return Grant{
		Sid:       "WriteOwnLogGroup",
		Actions:   args.LogGrant.Actions,
		Resources: pulumi.StringArray{group, pulumi.Sprintf("%s:*", group)},
	}
}

// taskGrants are what each service's own code may do with AWS: the API
// enqueues, the worker consumes; both publish their metrics and take ECS
// Exec sessions. Nothing reads secrets at run time (ECS injects them).
func taskGrants(svc string, q *Queue) []Grant {
	queue := Grant{Sid: "EnqueueJobs", Actions: []string{"sqs:SendMessage", "sqs:GetQueueAttributes"}, Resources: pulumi.StringArray{q.ARN}}
	if svc == "worker" {
		queue = Grant{Sid: "ConsumeJobs", Actions: []string{"sqs:ReceiveMessage", "sqs:DeleteMessage",
			"sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}, Resources: pulumi.StringArray{q.ARN}}
	}
	return []Grant{queue, hostMetricsGrant(), {
		// ECS Exec (`slipway shell`): the SSM agent in the task opens its
		// channels; these actions take no resource.
		Sid: "EcsExecChannels",
		Actions: []string{"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
			"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"},
		Resources: pulumi.ToStringArray([]string{"*"}),
	}}
}

// role creates a role ECS tasks assume, with one inline policy.
func (c *Cluster) role(ctx *pulumi.Context, name, description string, args ClusterArgs, grants []Grant, parent pulumi.ResourceOrInvokeOption) (*iam.Role, error) {
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Path:        pulumi.String(iamPath),
		Description: pulumi.String(description),
		// The confused-deputy guard AWS documents for ecs-tasks.
		AssumeRolePolicy:    assumeRolePolicy(ctx, parent, "ecs-tasks.amazonaws.com", args.Account.ID),
		PermissionsBoundary: args.PermissionsBoundary,
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
		Role:   role.Name,
		Policy: policyDocument(ctx, parent, grants...),
	}, parent); err != nil {
		return nil, err
	}
	return role, nil
}

// service builds one service: its roles, task definition, service and
// the read-back that makes `pulumi up` fail on a rolled-back deploy.
func (c *Cluster) service(ctx *pulumi.Context, name, svc string, cluster *ecs.Cluster, tasksSG pulumi.IDOutput,
	password *ssm.Parameter, args ClusterArgs, parent pulumi.ResourceOrInvokeOption) error {
	size := args.Platform.API
	if svc == "worker" {
		size = args.Platform.Worker
	}
	// The execution role (ECS's, at task start) pulls the images, writes
	// the log groups and reads this service's secrets; the API's also
	// reads the RDS master secret for its db-setup step. Per service, so
	// the worker's never can.
	exec := append([]Grant{serviceLogGrant(svc, args), {
		Sid: "ReadTaskSecrets", Actions: []string{"ssm:GetParameters"}, Resources: pulumi.StringArray{password.Arn},
	}}, args.PullGrants...)
	if svc == "api" {
		exec = append(exec, args.DB.MasterSecretGrant)
	}
	execRole, err := c.role(ctx, name+"-"+svc+"-execution", "Slipway "+args.Stack+" "+svc+" task execution (ECS agent)", args, exec, parent)
	if err != nil {
		return err
	}
	taskRole, err := c.role(ctx, name+"-"+svc+"-task", "Slipway "+args.Stack+" "+svc+" task (application code)", args, taskGrants(svc, args.Queue), parent)
	if err != nil {
		return err
	}
	containers := pulumi.All(args.Images["api"], args.LogGroups[svc], password.Arn, args.DB.MasterSecretARN,
		args.DB.Address, args.Queue.URL).ApplyT(func(v []any) (string, error) {
		in := containerInputs{image: v[0].(string), logGroup: v[1].(string), passwordARN: v[2].(string),
			masterARN: v[3].(string), dbHost: v[4].(string), queueURL: v[5].(string)}
		return containerDefinitions(svc, in, args)
	}).(pulumi.StringOutput)
	volumes := ecs.TaskDefinitionVolumeArray{}
	for _, v := range sortedNames(ecsExecAgentPaths) {
		volumes = append(volumes, ecs.TaskDefinitionVolumeArgs{Name: pulumi.String(v)})
	}
	td, err := ecs.NewTaskDefinition(ctx, name+"-"+svc, &ecs.TaskDefinitionArgs{
		Family:                  pulumi.String(args.Project + "-" + args.Stack + "-" + svc),
		NetworkMode:             pulumi.String("awsvpc"),
		RequiresCompatibilities: pulumi.ToStringArray([]string{"FARGATE"}),
		Cpu:                     pulumi.String(strconv.Itoa(size.CPU)),
		Memory:                  pulumi.String(strconv.Itoa(size.MemoryMB)),
		RuntimePlatform: &ecs.TaskDefinitionRuntimePlatformArgs{
			OperatingSystemFamily: pulumi.String("LINUX"),
			CpuArchitecture:       pulumi.String(fargateArchitecture(args.Architecture)),
		},
		ExecutionRoleArn:     execRole.Arn,
		TaskRoleArn:          taskRole.Arn,
		ContainerDefinitions: containers,
		Volumes:              volumes,
	}, parent)
	if err != nil {
		return err
	}
	service := &ecs.ServiceArgs{
		Cluster:        cluster.Arn,
		TaskDefinition: td.Arn,
		DesiredCount:   pulumi.Int(size.MinTasks),
		LaunchType:     pulumi.String("FARGATE"),
		NetworkConfiguration: &ecs.ServiceNetworkConfigurationArgs{
			Subnets:        idStrings(args.SubnetIDs),
			SecurityGroups: pulumi.StringArray{tasksSG},
			// Public IPs in the public subnets reach ECR, SSM, SQS and
			// CloudWatch without a NAT gateway ($33/month + $0.045/GB) or
			// interface endpoints ($7.30/month each per zone). FSBP ECS.2
			// is deliberately not met; the security group admits only the
			// load balancer, so the address accepts nothing else.
			AssignPublicIp: pulumi.Bool(true),
		},
		// Rolling deploys at full capacity: new tasks start beside the old
		// (200 %), old ones stop only once the new are healthy (100 %).
		DeploymentMinimumHealthyPercent: pulumi.Int(100),
		DeploymentMaximumPercent:        pulumi.Int(200),
		// A deploy whose tasks keep failing (a failed migration, a crash,
		// failing health checks) is stopped and rolled back by ECS.
		DeploymentCircuitBreaker: &ecs.ServiceDeploymentCircuitBreakerArgs{Enable: pulumi.Bool(true), Rollback: pulumi.Bool(true)},
		// `pulumi up` waits until the service is stable. With this
		// provider (pulumi-aws v6 = terraform-provider-aws v5) "stable"
		// is one deployment with desired == running, which a finished
		// rollback also is: the read-back below turns that into a failure.
		WaitForSteadyState:   pulumi.Bool(true),
		EnableExecuteCommand: pulumi.Bool(true), // `slipway shell`
		PropagateTags:        pulumi.String("SERVICE"),
		EnableEcsManagedTags: pulumi.Bool(true),
	}
	svcOpts := []pulumi.ResourceOption{parent,
		// Autoscaling owns the task count once the service exists.
		pulumi.IgnoreChanges([]string{"desiredCount"})}
	if svc == "api" {
		service.LoadBalancers = ecs.ServiceLoadBalancerArray{ecs.ServiceLoadBalancerArgs{
			TargetGroupArn: args.LB.TargetGroupARN,
			ContainerName:  pulumi.String("api"),
			ContainerPort:  pulumi.Int(apiPort),
		}}
		// db-setup and migrate run before the API starts; the first
		// health check comes after them.
		service.HealthCheckGracePeriodSeconds = pulumi.Int(90)
		svcOpts = append(svcOpts, pulumi.DependsOn([]pulumi.Resource{args.LB.Listener}))
	}
	s, err := ecs.NewService(ctx, name+"-"+svc, service, svcOpts...)
	if err != nil {
		return err
	}
	c.Services[svc] = s
	c.Deployed[svc] = verifyDeployed(ctx, svc, cluster, s, td, parent)
	return nil
}

// verifyDeployed reads the service back from ECS once the provider has
// waited for it, and fails the deploy when ECS runs another task
// definition than the one this deploy registered: the circuit breaker
// rolled the deploy back. The terraform-provider-aws v5 steady-state wait
// (the provider behind pulumi-aws v6) calls a service stable when it has
// one deployment and desired == running — which a completed rollback is
// (hashicorp/terraform-provider-aws internal/service/ecs/service.go,
// statusServiceWaitForStable). Provider v6 (pulumi-aws v7) checks the
// deployment's own status (ROLLBACK_SUCCESSFUL fails); this check keeps
// `up` truthful on v6 too. The stack exports the result, so an error here
// fails `pulumi up`; the old version keeps serving (minimum healthy
// 100 %).
func verifyDeployed(ctx *pulumi.Context, svc string, cluster *ecs.Cluster, s *ecs.Service, td *ecs.TaskDefinition, parent pulumi.InvokeOption) pulumi.StringOutput {
	running := ecs.LookupServiceOutput(ctx, ecs.LookupServiceOutputArgs{
		ServiceName: s.Name,
		ClusterArn:  cluster.Arn,
	}, parent)
	return pulumi.All(running.TaskDefinition(), td.Arn).ApplyT(func(v []any) (string, error) {
		got, want := v[0].(string), v[1].(string)
		if got != want {
			return "", fmt.Errorf("ECS rolled the %s service back: it runs %s, not %s from this deploy "+
				"(the deployment circuit breaker stopped the new tasks; the previous version keeps serving). "+
				"See why: aws ecs describe-services --cluster <cluster> --services <service> "+
				"(events), and the %s log group (db-setup/migrate/%s streams). "+
				"If an operator ran `slipway rollback` since the last update, this is that rollback: "+
				"`pulumi up --refresh` deploys this stack's task definition again", svc, got, want, svc, svc)
		}
		return got, nil
	}).(pulumi.StringOutput)
}

// containerInputs are the resolved values the container definitions need.
type containerInputs struct {
	image, logGroup, passwordARN, masterARN, dbHost, queueURL string
}

type kv struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type secretRef struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

type dependency struct {
	ContainerName string `json:"containerName"`
	Condition     string `json:"condition"`
}

type mountPoint struct {
	SourceVolume  string `json:"sourceVolume"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly"`
}

type container struct {
	Name                   string            `json:"name"`
	Image                  string            `json:"image"`
	Essential              bool              `json:"essential"`
	Command                []string          `json:"command,omitempty"`
	Environment            []kv              `json:"environment"`
	Secrets                []secretRef       `json:"secrets"`
	DependsOn              []dependency      `json:"dependsOn,omitempty"`
	PortMappings           []map[string]any  `json:"portMappings,omitempty"`
	ReadonlyRootFilesystem bool              `json:"readonlyRootFilesystem"`
	Privileged             bool              `json:"privileged"`
	User                   string            `json:"user"`
	StopTimeout            int               `json:"stopTimeout,omitempty"`
	HealthCheck            map[string]any    `json:"healthCheck,omitempty"`
	MountPoints            []mountPoint      `json:"mountPoints"`
	LinuxParameters        map[string]any    `json:"linuxParameters"`
	LogConfiguration       map[string]any    `json:"logConfiguration"`
	DockerLabels           map[string]string `json:"dockerLabels,omitempty"`
}

// dbSetupScript runs as the RDS master user (from its Secrets Manager
// secret) before every API task: it creates or updates the application's
// own role (slipway:dbUser, the role app/db creates for the container
// database: no superuser, no CREATEDB/CREATEROLE) and its database, which
// that role owns. Idempotent (an existing role only gets its password: a
// non-superuser master, as RDS's is, may not restate NOSUPERUSER, and a
// role that is wider than the app's is refused); identifiers and the
// password are quoted by Postgres (quote_ident/quote_literal).
const dbSetupScript = `const {Client}=require('pg');const e=process.env;(async()=>{` +
	`const c=new Client({host:e.DATABASE_HOST,port:+e.DATABASE_PORT,user:e.MASTER_USERNAME,password:e.MASTER_PASSWORD,database:'postgres'});` +
	`await c.connect();const q=(s,p)=>c.query(s,p);` +
	`const id=(await q('SELECT quote_ident($1) AS u, quote_literal($2) AS p, quote_ident($3) AS d',[e.DATABASE_USER,e.DATABASE_PASSWORD,e.DATABASE_NAME])).rows[0];` +
	`const r=(await q('SELECT rolsuper OR rolcreaterole OR rolcreatedb AS wide FROM pg_roles WHERE rolname=$1',[e.DATABASE_USER])).rows[0];` +
	`if(r&&r.wide)throw new Error('role '+e.DATABASE_USER+' may create roles or databases or is a superuser: refusing to use it');` +
	"await q(r?`ALTER ROLE ${id.u} WITH LOGIN PASSWORD ${id.p}`:`CREATE ROLE ${id.u} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${id.p}`);" +
	`if((await q('SELECT 1 FROM pg_database WHERE datname=$1',[e.DATABASE_NAME])).rowCount===0){` +
	"await q(`GRANT ${id.u} TO CURRENT_USER`);await q(`CREATE DATABASE ${id.d} OWNER ${id.u}`);}" +
	"await q(`REVOKE ALL ON DATABASE ${id.d} FROM PUBLIC`);await c.end();" +
	`})().catch(err=>{console.error('db-setup failed: '+err.message);process.exit(1);});`

// migrateScript applies the schema as the application's role, under the
// app's own advisory lock (app/api/src/db.js), before the API starts: a
// failing migration stops the task before it takes traffic.
const migrateScript = `const {loadConfig}=require('./src/config');const {createLogger}=require('./src/logger');` +
	`const {createPool,migrate}=require('./src/db');const c=loadConfig();const log=createLogger(c.logLevel,'migrate');` +
	`const pool=createPool(c.database,log);migrate(pool,log).then(()=>pool.end(),(err)=>{log.error({err},'migration failed');process.exit(1);});`

// containerDefinitions renders a service's containers. Both run the api
// image. The API task runs db-setup, then migrate, then the API, each
// step only after the previous exited 0 (dependsOn SUCCESS); the worker
// task runs the worker alone (it migrates on start under the same lock,
// a no-op once the API task did).
func containerDefinitions(svc string, in containerInputs, args ClusterArgs) (string, error) {
	env := []kv{
		{"AWS_REGION", args.Region},
		{"DATABASE_HOST", in.dbHost},
		{"DATABASE_PORT", "5432"},
		{"DATABASE_NAME", args.Database.Name},
		{"DATABASE_USER", args.Database.User},
		// rds.force_ssl refuses plain connections. node-postgres reads
		// PGSSLMODE: no-verify encrypts without checking RDS's CA (the
		// image has no RDS CA bundle yet; docs/scaling.md).
		{"PGSSLMODE", "no-verify"},
		{"QUEUE_URL", in.queueURL},
		{"WORKER_JOB_TIMEOUT_SECONDS", strconv.Itoa(args.WorkerTimeoutSeconds)},
		{"DD_TRACE_ENABLED", "false"},
	}
	appSecrets := []secretRef{{"DATABASE_PASSWORD", in.passwordARN}}
	mounts := []mountPoint{}
	for _, v := range sortedNames(ecsExecAgentPaths) {
		mounts = append(mounts, mountPoint{SourceVolume: v, ContainerPath: ecsExecAgentPaths[v]})
	}
	logs := func(prefix string) map[string]any {
		return map[string]any{"logDriver": "awslogs", "options": map[string]string{
			"awslogs-group": in.logGroup, "awslogs-region": args.Region, "awslogs-stream-prefix": prefix,
			// As on the host: a CloudWatch hiccup must not stall the app.
			"mode": "non-blocking", "max-buffer-size": "4m",
		}}
	}
	base := func(name string) container {
		return container{
			Name: name, Image: in.image, Environment: env, Secrets: appSecrets,
			// FSBP ECS.5 and ECS.4: read-only root, not privileged, the
			// image's unprivileged user.
			ReadonlyRootFilesystem: true, Privileged: false, User: "node",
			MountPoints: mounts,
			// An init process reaps ECS Exec's children.
			LinuxParameters:  map[string]any{"initProcessEnabled": true, "capabilities": map[string]any{"drop": []string{"ALL"}}},
			LogConfiguration: logs(name),
		}
	}
	var out []container
	if svc == "api" {
		setup := base("db-setup")
		setup.Essential = false
		setup.Command = []string{"node", "-e", dbSetupScript}
		setup.Secrets = append(append([]secretRef{}, appSecrets...),
			secretRef{"MASTER_USERNAME", in.masterARN + ":username::"},
			secretRef{"MASTER_PASSWORD", in.masterARN + ":password::"})
		migrate := base("migrate")
		migrate.Essential = false
		migrate.Command = []string{"node", "-e", migrateScript}
		migrate.DependsOn = []dependency{{"db-setup", "SUCCESS"}}
		api := base("api")
		api.Essential = true
		api.DependsOn = []dependency{{"migrate", "SUCCESS"}}
		api.PortMappings = []map[string]any{{"containerPort": apiPort, "protocol": "tcp"}}
		api.StopTimeout = 30 // in-flight requests finish (the target group drains 30 s too)
		api.HealthCheck = map[string]any{"command": []string{"CMD", "node", "src/healthcheck.js"},
			"interval": 15, "timeout": 5, "retries": 3, "startPeriod": 20}
		out = []container{setup, migrate, api}
	} else {
		worker := base("worker")
		worker.Essential = true
		worker.Command = []string{"node", "src/worker.js"}
		// The job in hand finishes: budget + 15 s, Fargate's most is 120.
		worker.StopTimeout = min(args.WorkerTimeoutSeconds+15, 120)
		worker.HealthCheck = map[string]any{"command": []string{"CMD", "node", "src/healthcheck.js", "worker"},
			"interval": 30, "timeout": 5, "retries": 3, "startPeriod": 30}
		out = []container{worker}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// fargateArchitecture maps slipway:architecture to Fargate's name.
func fargateArchitecture(arch string) string {
	if arch == "x86_64" {
		return "X86_64"
	}
	return "ARM64"
}

func idStrings(ids []pulumi.IDOutput) pulumi.StringArray {
	out := pulumi.StringArray{}
	for _, id := range ids {
		out = append(out, id.ToStringOutput())
	}
	return out
}

func sortedNames(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// buildPlatform builds the "past one host" profile: RDS when
// slipway:database is rds, and with slipway:compute ecs the load
// balancer, the cluster and its autoscaling. The default profile (host,
// container) builds nothing here, so its resources and URNs are exactly
// the single host's.
func (s *Stack) buildPlatform(ctx *pulumi.Context) (err error) {
	p := s.cfg.Platform
	if !p.OnRDS() {
		return nil
	}
	alarmActions := []pulumi.StringInput{s.Alerts.TopicARN}
	if !p.OnECS() {
		// host + rds: the host connects to RDS; its security group (the
		// network's) gets the one egress rule it needs.
		if s.Database, err = NewDatabase(ctx, "database", s.databaseArgs(map[string]pulumi.IDOutput{"host": s.Network.HostSecurityGroupID}, alarmActions), s.regional); err != nil {
			return err
		}
		_, err = vpc.NewSecurityGroupEgressRule(ctx, "database-from-host", &vpc.SecurityGroupEgressRuleArgs{
			SecurityGroupId:           s.Network.HostSecurityGroupID,
			Description:               pulumi.String("Postgres on RDS"),
			IpProtocol:                pulumi.String("tcp"),
			FromPort:                  pulumi.Int(5432),
			ToPort:                    pulumi.Int(5432),
			ReferencedSecurityGroupId: s.Database.SecurityGroupID,
		}, pulumi.Parent(s.Database), s.regional)
		return err
	}
	if s.LoadBalancer, err = NewLoadBalancer(ctx, "loadbalancer", LoadBalancerArgs{
		NamePrefix:       s.cfg.Project + "-" + s.cfg.Stack,
		Profile:          s.cfg.Profile,
		VpcID:            s.Network.VpcID,
		SubnetIDs:        s.Network.SubnetIDs,
		OriginSecret:     s.cfg.Origin.Secret.Output(),
		AccessLogs:       s.cfg.Profile == stacks.Prod,
		LogRetentionDays: s.cfg.Logs.RetentionDays,
		Account:          s.acct,
		AlarmActions:     alarmActions,
	}, s.regional); err != nil {
		return err
	}
	// What nginx adds on the host in front of the API: maintenance mode
	// and the per-viewer write limit.
	if s.Firewall, err = NewApiFirewall(ctx, "firewall", ApiFirewallArgs{
		LoadBalancerARN: s.LoadBalancer.ARN,
		MetricPrefix:    s.cfg.Project + "-" + s.cfg.Stack,
		Stack:           s.cfg.Stack,
	}, s.regional); err != nil {
		return err
	}
	// The database's only client, the tasks' security group, is the
	// cluster's: it adds the database's ingress rule for it.
	if s.Database, err = NewDatabase(ctx, "database", s.databaseArgs(nil, alarmActions), s.regional); err != nil {
		return err
	}
	logGroups := map[string]pulumi.StringOutput{}
	for svc, g := range s.Logs.GroupNames {
		logGroups[svc] = g
	}
	if s.Cluster, err = NewCluster(ctx, "cluster", ClusterArgs{
		Project: s.cfg.Project, Stack: s.cfg.Stack, Region: s.cfg.Region,
		Profile:              s.cfg.Profile,
		Platform:             p,
		Architecture:         s.cfg.Host.Architecture,
		Database:             s.cfg.Database,
		WorkerTimeoutSeconds: s.cfg.Queue.WorkerTimeoutSeconds,
		ParameterPath:        parameterPath(s.cfg),
		VpcID:                s.Network.VpcID,
		SubnetIDs:            s.Network.SubnetIDs,
		Images:               s.Registry.Digests,
		PullGrants:           s.Registry.PullGrants,
		LogGroups:            logGroups,
		LogGrant:             s.Logs.Grant,
		Queue:                s.Queue,
		DB:                   s.Database,
		LB:                   s.LoadBalancer,
		Account:              s.acct,
		PermissionsBoundary:  s.boundaryARN,
	}, s.regional); err != nil {
		return err
	}
	s.Autoscaling, err = NewAutoscaling(ctx, "autoscaling", AutoscalingArgs{
		Platform: p, Cluster: s.Cluster, LB: s.LoadBalancer, Queue: s.Queue,
	}, s.regional)
	return err
}

func (s *Stack) databaseArgs(clients map[string]pulumi.IDOutput, alarmActions []pulumi.StringInput) DatabaseArgs {
	return DatabaseArgs{
		Config:           s.cfg.Platform.RDS,
		Profile:          s.cfg.Profile,
		Identifier:       s.cfg.Project + "-" + s.cfg.Stack + "-db",
		VpcID:            s.Network.VpcID,
		SubnetIDs:        s.Network.SubnetIDs,
		Clients:          clients,
		LogRetentionDays: s.cfg.Logs.RetentionDays,
		AlarmActions:     alarmActions,
	}
}

// originDomain is where CloudFront sends /api/*: the load balancer in
// ecs mode, the host otherwise.
func (s *Stack) originDomain() pulumi.StringInput {
	if s.LoadBalancer != nil {
		return s.LoadBalancer.DNSName
	}
	return s.Host.PublicDNS
}

// monitoredInstance is the host the monitoring alarms watch; none in ecs
// mode (the host's alarms are left out, the rest stay).
func (s *Stack) monitoredInstance() pulumi.StringInput {
	if s.Host == nil {
		return nil
	}
	return s.Host.InstanceID.ToStringOutput()
}

// computeOutputs adds the outputs of what runs the workload.
func (s *Stack) computeOutputs(out pulumi.Map) {
	if s.Database != nil {
		out["databaseAddress"] = s.Database.Address
		out["databaseMasterCredentialsArn"] = s.Database.MasterSecretARN
	}
	if s.Cluster != nil {
		digests := pulumi.StringMap{}
		for image, d := range s.Registry.Digests {
			digests[image] = d
		}
		out["imageDigests"] = digests
		out["clusterName"] = s.Cluster.Name
		out["loadBalancerDns"] = s.LoadBalancer.DNSName
		// Read back from ECS after the deploy: exporting them is what
		// makes a rolled-back deploy fail `pulumi up` (verifyDeployed).
		out["apiTaskDefinition"] = s.Cluster.Deployed["api"]
		out["workerTaskDefinition"] = s.Cluster.Deployed["worker"]
		out["apiService"] = s.Cluster.Services["api"].Name
		out["workerService"] = s.Cluster.Services["worker"].Name
		// `slipway maintenance on|off` flips this pattern set's
		// expression (waf.go).
		out["maintenance"] = pulumi.Map{
			"patternSetName": s.Firewall.PatternSetName,
			"patternSetId":   s.Firewall.PatternSetID,
			"scope":          pulumi.String(wafScope),
		}
		out["ecsExecCommand"] = pulumi.Sprintf("aws ecs execute-command --cluster %s --task <task-id> --container api --interactive --command /bin/sh --region %s",
			s.Cluster.Name, s.cfg.Region)
		return
	}
	out["instanceId"] = s.Host.InstanceID
	out["publicIp"] = s.Host.PublicIP
	out["ssmSessionCommand"] = pulumi.Sprintf("aws ssm start-session --target %s --region %s", s.Host.InstanceID, s.cfg.Region)
	out["hostAmi"] = s.Host.AMI
	out["latestAmi"] = s.Host.LatestAMI
	out["dataVolumeId"] = s.Data.VolumeID
	out["releaseId"] = s.Release.ID
	out["releaseStatus"] = s.Release.Status
	out["imageDigests"] = s.Release.Images
}

// hostAlarms are the monitoring alarms about the EC2 host and what runs
// on it (monitoring.go); in ecs mode there is no host, and the ECS
// services' health is the load balancer's and the deployment's.
var hostAlarms = []string{"reboot", "cpu", "api", "data-disk", "root-disk"}

func withoutHostAlarms(specs []alarmSpec) []alarmSpec {
	return slices.DeleteFunc(specs, func(s alarmSpec) bool { return slices.Contains(hostAlarms, s.name) })
}
