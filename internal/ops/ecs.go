package ops

// The ECS profile (slipway:compute=ecs): no host, so no host document and
// no SSM Run Command. The commands act through the ECS API on the
// cluster's api and worker services (the stack's clusterName, apiService
// and workerService outputs) and, for maintenance, through AWS WAF on the
// maintenance rule's regex pattern set (the maintenance output, shape
// set by infra/cluster.go, computeOutputs).

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
)

// The maintenance pattern set's two states: "off" never
// matches a URI path, "on" matches every path.
const (
	MaintenanceOffPattern = "^$"
	MaintenanceOnPattern  = "^/"
)

// ECSExecContainer is the container of the api task that shell opens a
// session in (infra/cluster.go: the api container; db-setup and migrate
// have exited by the time it runs).
const ECSExecContainer = "api"

// serviceName is the ECS service of key (api, worker) from the outputs.
func (o *Ops) serviceName(key string) (string, error) {
	name := o.Outputs.Services[key]
	if name == "" {
		output := OutputAPIService
		if key == "worker" {
			output = OutputWorkerService
		}
		return "", fmt.Errorf("%w: stack %s (ECS) has no %s output: its last update predates it; run `pulumi up --stack %s`",
			ErrNotDeployed, o.Target.Stack, output, o.Target.Stack)
	}
	return name, nil
}

// describeServices is DescribeServices of the keys' services, by key. A
// cluster or service that does not exist is a stack that is not
// deployed; one that is not ACTIVE (DRAINING, INACTIVE) does not answer.
func (o *Ops) describeServices(ctx context.Context, keys ...string) (map[string]ecstypes.Service, error) {
	var names []string
	key := map[string]string{}
	for _, k := range keys {
		name, err := o.serviceName(k)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
		key[name] = k
	}
	out, err := o.AWS.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{
		Cluster:  aws.String(o.Outputs.ClusterName),
		Services: names,
	})
	if err != nil {
		return nil, o.ecsError("ecs DescribeServices", err)
	}
	for _, f := range out.Failures {
		return nil, fmt.Errorf("%w: ECS has no service %s in cluster %s (%s): stack %s is not deployed in %s, or was destroyed",
			ErrNotDeployed, lastPart(aws.ToString(f.Arn)), o.Outputs.ClusterName, aws.ToString(f.Reason), o.Target.Stack, o.AWS.Region)
	}
	found := map[string]ecstypes.Service{}
	for _, s := range out.Services {
		k, ok := key[aws.ToString(s.ServiceName)]
		if !ok {
			continue
		}
		if st := aws.ToString(s.Status); st != "ACTIVE" {
			return nil, fmt.Errorf("%w: service %s in cluster %s is %s, not ACTIVE", ErrServiceUnreachable, aws.ToString(s.ServiceName), o.Outputs.ClusterName, st)
		}
		found[k] = s
	}
	for _, k := range keys {
		if _, ok := found[k]; !ok {
			return nil, fmt.Errorf("%w: DescribeServices did not return service %s of cluster %s", ErrServiceUnreachable, o.Outputs.Services[k], o.Outputs.ClusterName)
		}
	}
	return found, nil
}

// ecsError wraps an ECS call's failure: a missing cluster or service is
// a stack that is not deployed, an inactive service one that does not
// answer, credential failures are said as such.
func (o *Ops) ecsError(call string, err error) error {
	switch apiCode(err) {
	case "ClusterNotFoundException":
		return fmt.Errorf("%w: ECS has no cluster %s in %s (stack %s is not deployed there, or was destroyed): %s",
			ErrNotDeployed, o.Outputs.ClusterName, o.AWS.Region, o.Target.Stack, apiMessage(err))
	case "ServiceNotFoundException":
		return fmt.Errorf("%w: %s: a service of stack %s is not in cluster %s: %s", ErrNotDeployed, call, o.Target.Stack, o.Outputs.ClusterName, apiMessage(err))
	case "ServiceNotActiveException":
		return fmt.Errorf("%w: %s: %s", ErrServiceUnreachable, call, apiMessage(err))
	}
	return callError(call, err)
}

// primary is the service's PRIMARY deployment (the one ECS rolls towards).
func primary(s ecstypes.Service) (ecstypes.Deployment, bool) {
	for _, d := range s.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" {
			return d, true
		}
	}
	return ecstypes.Deployment{}, false
}

// ecsStatus prints, per service, what ECS runs: the counts, the task
// definition, each deployment's state, the previous release (what
// rollback would go back to: rollbackTarget, read-only), and the images
// of the task definition in service (DescribeTaskDefinition).
func (o *Ops) ecsStatus(ctx context.Context) error {
	w := o.stdout()
	fmt.Fprintf(w, "stack %s (class %s), ECS cluster %s, region %s\n", o.Target.Stack, o.Target.Class, o.Outputs.ClusterName, o.AWS.Region)
	fmt.Fprintln(w, "deployed by the last pulumi up:")
	for _, k := range ECSServices {
		fmt.Fprintf(w, "  task definition %-6s %s\n", k, orUnknown(o.Outputs.TaskDefinitions[k]))
	}
	for _, name := range sortedKeys(o.Outputs.ImageDigests) {
		fmt.Fprintf(w, "  image %-8s %s\n", name, o.Outputs.ImageDigests[name])
	}
	services, err := o.describeServices(ctx, ECSServices...)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "in ECS:")
	for _, k := range ECSServices {
		s := services[k]
		td := aws.ToString(s.TaskDefinition)
		fmt.Fprintf(w, "service %s (%s): desired %d, running %d, pending %d, task definition %s\n",
			k, aws.ToString(s.ServiceName), s.DesiredCount, s.RunningCount, s.PendingCount, lastPart(td))
		if want := o.Outputs.TaskDefinitions[k]; want != "" && want != td {
			fmt.Fprintf(w, "  not the task definition the last pulumi up deployed (%s): rolled back (slipway rollback, or ECS's circuit breaker)\n", lastPart(want))
		}
		for _, d := range s.Deployments {
			reason := ""
			if r := aws.ToString(d.RolloutStateReason); r != "" {
				reason = " (" + r + ")"
			}
			fmt.Fprintf(w, "  deployment %s %s: rollout %s%s; desired %d, running %d, pending %d, failed tasks %d\n",
				aws.ToString(d.Status), lastPart(aws.ToString(d.TaskDefinition)), orUnknown(string(d.RolloutState)), reason,
				d.DesiredCount, d.RunningCount, d.PendingCount, d.FailedTasks)
		}
		// The previous release: what `slipway rollback` would go back to.
		if prev, how, err := o.rollbackTarget(ctx, aws.ToString(s.ServiceName), td); err != nil {
			fmt.Fprintf(w, "  previous: none to roll back to (%v)\n", err)
		} else {
			fmt.Fprintf(w, "  previous: %s, %s (slipway rollback goes back to it)\n", lastPart(prev), how)
		}
		def, err := o.AWS.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(td)})
		if err != nil {
			return o.ecsError("ecs DescribeTaskDefinition "+lastPart(td), err)
		}
		for _, c := range def.TaskDefinition.ContainerDefinitions {
			fmt.Fprintf(w, "  container %-8s %s\n", aws.ToString(c.Name), aws.ToString(c.Image))
		}
	}
	return nil
}

// taskDefinitionARN is ECS's task definition ARN:
// arn:<partition>:ecs:<region>:<account>:task-definition/<family>:<revision>.
var taskDefinitionARN = regexp.MustCompile(`^arn:[a-z-]+:ecs:[a-z0-9-]+:[0-9]+:task-definition/([A-Za-z0-9_-]+):([0-9]+)$`)

func parseTaskDefinition(arn string) (family string, revision int, ok bool) {
	m := taskDefinitionARN.FindStringSubmatch(arn)
	if m == nil {
		return "", 0, false
	}
	revision, err := strconv.Atoi(m[2])
	return m[1], revision, err == nil
}

// healthyHistory is the task definitions of the service's SUCCESSFUL
// deployments, newest first: ECS's deployment history
// (ListServiceDeployments with status SUCCESSFUL, then
// DescribeServiceRevisions for each target revision's task definition). A
// deployment the circuit breaker rolled back is ROLLBACK_SUCCESSFUL, not
// SUCCESSFUL: its task definition never served healthy. Empty when ECS
// keeps no history for the service.
func (o *Ops) healthyHistory(ctx context.Context, service string) ([]string, error) {
	var deployments []ecstypes.ServiceDeploymentBrief
	var token *string
	for {
		out, err := o.AWS.ECS.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{
			Cluster:    aws.String(o.Outputs.ClusterName),
			Service:    aws.String(service),
			Status:     []ecstypes.ServiceDeploymentStatus{ecstypes.ServiceDeploymentStatusSuccessful},
			MaxResults: aws.Int32(100),
			NextToken:  token,
		})
		if err != nil {
			if code := apiCode(err); code == "UnknownOperationException" || code == "InvalidAction" {
				return nil, nil // an endpoint without the history: fall back
			}
			return nil, o.ecsError("ecs ListServiceDeployments "+service, err)
		}
		deployments = append(deployments, out.ServiceDeployments...)
		if aws.ToString(out.NextToken) == "" {
			break
		}
		token = out.NextToken
	}
	// Newest first, whatever order the pages came in.
	when := func(d ecstypes.ServiceDeploymentBrief) time.Time {
		if d.StartedAt != nil {
			return *d.StartedAt
		}
		return aws.ToTime(d.CreatedAt)
	}
	sort.SliceStable(deployments, func(i, j int) bool { return when(deployments[i]).After(when(deployments[j])) })
	var revisions []string
	for _, d := range deployments {
		if d.Status == ecstypes.ServiceDeploymentStatusSuccessful && aws.ToString(d.TargetServiceRevisionArn) != "" {
			revisions = append(revisions, aws.ToString(d.TargetServiceRevisionArn))
		}
	}
	taskDefinitions := map[string]string{}
	for start := 0; start < len(revisions); start += 20 { // DescribeServiceRevisions takes 20
		chunk := revisions[start:min(start+20, len(revisions))]
		out, err := o.AWS.ECS.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: chunk})
		if err != nil {
			return nil, o.ecsError("ecs DescribeServiceRevisions", err)
		}
		for _, r := range out.ServiceRevisions {
			taskDefinitions[aws.ToString(r.ServiceRevisionArn)] = aws.ToString(r.TaskDefinition)
		}
	}
	var out []string
	for _, r := range revisions {
		if td := taskDefinitions[r]; td != "" {
			out = append(out, td)
		}
	}
	return out, nil
}

// previousRevision is the family's highest revision below current, ACTIVE
// or INACTIVE (ListTaskDefinitions of the family, newest first, in both
// states): what rollback falls back to when ECS's deployment history has
// no other healthy deployment.
func (o *Ops) previousRevision(ctx context.Context, family string, current int) (string, error) {
	best, arn := 0, ""
	for _, status := range []ecstypes.TaskDefinitionStatus{ecstypes.TaskDefinitionStatusActive, ecstypes.TaskDefinitionStatusInactive} {
		var token *string
		for {
			out, err := o.AWS.ECS.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{
				FamilyPrefix: aws.String(family),
				Status:       status,
				Sort:         ecstypes.SortOrderDesc,
				NextToken:    token,
			})
			if err != nil {
				return "", o.ecsError("ecs ListTaskDefinitions "+family, err)
			}
			for _, a := range out.TaskDefinitionArns {
				// The prefix also matches longer families (…-api2).
				if f, rev, ok := parseTaskDefinition(a); ok && f == family && rev < current && rev > best {
					best, arn = rev, a
				}
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			token = out.NextToken
		}
	}
	if best == 0 {
		return "", fmt.Errorf("task definition family %s has no revision before %d: nothing to roll back to", family, current)
	}
	return arn, nil
}

// rollbackTarget is the task definition to roll the service back to, and
// how it was found: the newest one other than current that a SUCCESSFUL
// deployment of the service rolled out (healthyHistory), else the
// family's previous revision, whose health is then not known (ECS's
// circuit breaker still guards the rollback's own deployment).
func (o *Ops) rollbackTarget(ctx context.Context, service, current string) (arn, how string, err error) {
	family, rev, ok := parseTaskDefinition(current)
	if !ok {
		return "", "", fmt.Errorf("service %s runs task definition %q, not an ECS task definition ARN", service, current)
	}
	history, err := o.healthyHistory(ctx, service)
	if err != nil {
		return "", "", err
	}
	for _, td := range history {
		if f, _, ok := parseTaskDefinition(td); ok && f == family && td != current {
			return td, "last deployed healthy (ECS deployment history)", nil
		}
	}
	arn, err = o.previousRevision(ctx, family, rev)
	if err != nil {
		return "", "", fmt.Errorf("service %s: no other successful deployment in ECS's deployment history, and %w", service, err)
	}
	return arn, "the family's previous revision: ECS's deployment history has no other successful deployment, so its health is not known", nil
}

// activeRevision is arn itself when it is ACTIVE, else its definition
// registered again as the family's newest revision: ECS refuses to point
// a service at an INACTIVE revision, and Pulumi deregisters every
// revision it replaces. Same containers, sizes, roles, volumes and tags
// (DescribeTaskDefinition with its tags, RegisterTaskDefinition).
func (o *Ops) activeRevision(ctx context.Context, arn string) (string, error) {
	out, err := o.AWS.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(arn),
		Include:        []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	})
	if err != nil {
		return "", o.ecsError("ecs DescribeTaskDefinition "+lastPart(arn), err)
	}
	td := out.TaskDefinition
	if td.Status == ecstypes.TaskDefinitionStatusActive {
		return arn, nil
	}
	reg, err := o.AWS.ECS.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:                  td.Family,
		ContainerDefinitions:    td.ContainerDefinitions,
		Cpu:                     td.Cpu,
		Memory:                  td.Memory,
		EnableFaultInjection:    td.EnableFaultInjection,
		EphemeralStorage:        td.EphemeralStorage,
		ExecutionRoleArn:        td.ExecutionRoleArn,
		TaskRoleArn:             td.TaskRoleArn,
		InferenceAccelerators:   td.InferenceAccelerators,
		IpcMode:                 td.IpcMode,
		PidMode:                 td.PidMode,
		NetworkMode:             td.NetworkMode,
		PlacementConstraints:    td.PlacementConstraints,
		ProxyConfiguration:      td.ProxyConfiguration,
		RequiresCompatibilities: td.RequiresCompatibilities,
		RuntimePlatform:         td.RuntimePlatform,
		Volumes:                 td.Volumes,
		Tags:                    out.Tags,
	})
	if err != nil {
		return "", o.ecsError("ecs RegisterTaskDefinition "+aws.ToString(td.Family), err)
	}
	return aws.ToString(reg.TaskDefinition.TaskDefinitionArn), nil
}

// ecsRollbackStep is one service's rollback.
type ecsRollbackStep struct {
	key, service string
	// from is what ran, previous the task definition to go back to (how
	// says how it was found), target what the service is updated to
	// (previous, or its re-registered copy).
	from, previous, how, target string
}

// ecsRollback points the api and worker services back at the task
// definition each last deployed healthy before the one it runs
// (rollbackTarget), waits until both are stable on it, and says what the
// next `pulumi up` does.
func (o *Ops) ecsRollback(ctx context.Context) error {
	services, err := o.describeServices(ctx, ECSServices...)
	if err != nil {
		return err
	}
	var steps []ecsRollbackStep
	for _, k := range ECSServices {
		s := services[k]
		if len(s.Deployments) > 1 {
			d, _ := primary(s)
			return fmt.Errorf("service %s has a deployment in progress (%s, rollout %s): wait until `slipway status --stack %s` shows one deployment, then roll back",
				aws.ToString(s.ServiceName), lastPart(aws.ToString(d.TaskDefinition)), d.RolloutState, o.Target.Stack)
		}
		from := aws.ToString(s.TaskDefinition)
		prev, how, err := o.rollbackTarget(ctx, aws.ToString(s.ServiceName), from)
		if err != nil {
			return err
		}
		steps = append(steps, ecsRollbackStep{key: k, service: aws.ToString(s.ServiceName), from: from, previous: prev, how: how})
	}
	// Registered only once both services have a revision to go back to.
	for i, st := range steps {
		arn, err := o.activeRevision(ctx, st.previous)
		if err != nil {
			return err
		}
		steps[i].target = arn
		fmt.Fprintf(o.stderr(), "%s: going back to %s (%s)\n", st.key, lastPart(st.previous), st.how)
		if arn != st.previous {
			fmt.Fprintf(o.stderr(), "%s: %s is deregistered (Pulumi replaced it); registered its definition again as %s\n",
				st.key, lastPart(st.previous), lastPart(arn))
		}
	}
	for _, st := range steps {
		if _, err := o.AWS.ECS.UpdateService(ctx, &ecs.UpdateServiceInput{
			Cluster:        aws.String(o.Outputs.ClusterName),
			Service:        aws.String(st.service),
			TaskDefinition: aws.String(st.target),
		}); err != nil {
			return o.ecsError("ecs UpdateService "+st.service, err)
		}
		fmt.Fprintf(o.stderr(), "%s: service %s updated from %s to %s; waiting until it is stable\n", st.key, st.service, lastPart(st.from), lastPart(st.target))
	}
	if err := o.waitStable(ctx, steps); err != nil {
		return err
	}
	w := o.stdout()
	fmt.Fprintf(w, "stack %s rolled back to its previous task definitions (no rebuild):\n", o.Target.Stack)
	for _, st := range steps {
		fmt.Fprintf(w, "  %-6s %s -> %s", st.key, lastPart(st.from), lastPart(st.target))
		if st.target != st.previous {
			fmt.Fprintf(w, " (the definition of %s)", lastPart(st.previous))
		}
		fmt.Fprintf(w, ": %s\n", st.how)
	}
	fmt.Fprintf(w, "Pulumi still records %s and %s: the next `pulumi up` deploys the code at HEAD again "+
		"(with no change at HEAD, run it as `pulumi up --refresh`: a plain up finds ECS running another task definition than it deployed and fails its check). "+
		"Revert or fix the fault at HEAD before that up, or it rolls the fault out again.\n",
		lastPart(orUnknown(o.Outputs.TaskDefinitions["api"])), lastPart(orUnknown(o.Outputs.TaskDefinitions["worker"])))
	return nil
}

// waitStable polls DescribeServices until every step's service has one
// deployment, on its target, COMPLETED with running == desired; a
// deployment ECS's circuit breaker failed (or rolled back to another
// task definition) ends it with an error. Bounded by Timeout.
func (o *Ops) waitStable(ctx context.Context, steps []ecsRollbackStep) error {
	keys := make([]string, len(steps))
	for i, st := range steps {
		keys[i] = st.key
	}
	deadline := time.Now().Add(o.timeout())
	// seen: the target was PRIMARY once. Before that, another PRIMARY is
	// DescribeServices lagging behind UpdateService; after it, the
	// circuit breaker's rollback.
	seen := map[string]bool{}
	for {
		services, err := o.describeServices(ctx, keys...)
		if err != nil {
			return err
		}
		stable := true
		for _, st := range steps {
			s := services[st.key]
			d, ok := primary(s)
			onTarget := ok && aws.ToString(d.TaskDefinition) == st.target
			seen[st.key] = seen[st.key] || onTarget
			switch {
			case !ok || (!onTarget && !seen[st.key]):
				stable = false
			case !onTarget || d.RolloutState == ecstypes.DeploymentRolloutStateFailed:
				return fmt.Errorf("%w: the rollback of service %s to %s did not hold: ECS's deployment is %s on %s (%s); the circuit breaker keeps the service serving. See why: aws ecs describe-services --cluster %s --services %s --region %s (events)",
					ErrServiceUnreachable, st.service, lastPart(st.target), d.RolloutState, lastPart(aws.ToString(d.TaskDefinition)),
					aws.ToString(d.RolloutStateReason), o.Outputs.ClusterName, st.service, o.AWS.Region)
			case len(s.Deployments) != 1 || d.RolloutState != ecstypes.DeploymentRolloutStateCompleted || s.RunningCount != s.DesiredCount:
				stable = false
			}
		}
		if stable {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: the services were updated but are not stable after %s; ECS keeps rolling out: follow it with `slipway status --stack %s`",
				ErrServiceUnreachable, o.timeout(), o.Target.Stack)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting (ECS keeps rolling the services back; `slipway status --stack %s` shows where they are): %w", o.Target.Stack, ctx.Err())
		case <-time.After(o.poll()):
		}
	}
}

// ecsMaintenance sets the maintenance rule's pattern set to match every
// path (on) or none (off): GetRegexPatternSet for the lock token and the
// description (an update replaces every field), then
// UpdateRegexPatternSet; once more if another writer changed the set in
// between (WAFOptimisticLockException).
func (o *Ops) ecsMaintenance(ctx context.Context, on bool) error {
	set := o.Outputs.Maintenance
	if set.Name == "" || set.ID == "" {
		return fmt.Errorf("%w: stack %s (ECS) has no %s output (the WAF's maintenance pattern set): its last update predates it; run `pulumi up --stack %s`",
			ErrNotDeployed, o.Target.Stack, OutputMaintenance, o.Target.Stack)
	}
	if set.Scope != string(waftypes.ScopeRegional) {
		return fmt.Errorf("the %s output's scope is %q: only REGIONAL (the load balancer's web ACL) is supported", OutputMaintenance, set.Scope)
	}
	pattern := MaintenanceOffPattern
	if on {
		pattern = MaintenanceOnPattern
	}
	for attempt := 1; ; attempt++ {
		got, err := o.AWS.WAF.GetRegexPatternSet(ctx, &wafv2.GetRegexPatternSetInput{
			Name: aws.String(set.Name), Id: aws.String(set.ID), Scope: waftypes.ScopeRegional,
		})
		if err != nil {
			return o.wafError("wafv2 GetRegexPatternSet", err)
		}
		_, err = o.AWS.WAF.UpdateRegexPatternSet(ctx, &wafv2.UpdateRegexPatternSetInput{
			Name: aws.String(set.Name), Id: aws.String(set.ID), Scope: waftypes.ScopeRegional,
			Description:           got.RegexPatternSet.Description,
			RegularExpressionList: []waftypes.Regex{{RegexString: aws.String(pattern)}},
			LockToken:             got.LockToken,
		})
		if err == nil {
			break
		}
		if apiCode(err) == "WAFOptimisticLockException" && attempt == 1 {
			fmt.Fprintf(o.stderr(), "pattern set %s changed since it was read; reading it again\n", set.Name)
			continue
		}
		return o.wafError("wafv2 UpdateRegexPatternSet", err)
	}
	if on {
		fmt.Fprintf(o.stdout(), "maintenance on for stack %s: the WAF's maintenance rule (pattern set %s = %s) answers 503 with Retry-After; health endpoints still answer. "+
			"AWS WAF applies it everywhere within seconds. End it with `slipway maintenance off --stack %s`.\n", o.Target.Stack, set.Name, pattern, o.Target.Stack)
	} else {
		fmt.Fprintf(o.stdout(), "maintenance off for stack %s: the WAF's maintenance rule matches nothing again (pattern set %s = %s); the load balancer serves the application.\n",
			o.Target.Stack, set.Name, pattern)
	}
	return nil
}

func (o *Ops) wafError(call string, err error) error {
	switch apiCode(err) {
	case "WAFNonexistentItemException":
		return fmt.Errorf("%w: %s: AWS WAF has no regex pattern set %s (id %s, REGIONAL) in %s: stack %s is not deployed there, or was destroyed: %s",
			ErrNotDeployed, call, o.Outputs.Maintenance.Name, o.Outputs.Maintenance.ID, o.AWS.Region, o.Target.Stack, apiMessage(err))
	case "WAFOptimisticLockException":
		return fmt.Errorf("%s: the pattern set kept changing under this command (another `slipway maintenance` or a `pulumi up`?): run it again: %s", call, apiMessage(err))
	}
	return callError(call, err)
}

// execTask is a running api task whose ECS Exec agent runs in the api
// container (ListTasks of the api service, DescribeTasks).
func (o *Ops) execTask(ctx context.Context) (string, error) {
	services, err := o.describeServices(ctx, "api")
	if err != nil {
		return "", err
	}
	api := services["api"]
	name := aws.ToString(api.ServiceName)
	list, err := o.AWS.ECS.ListTasks(ctx, &ecs.ListTasksInput{
		Cluster:       aws.String(o.Outputs.ClusterName),
		ServiceName:   aws.String(name),
		DesiredStatus: ecstypes.DesiredStatusRunning,
	})
	if err != nil {
		return "", o.ecsError("ecs ListTasks", err)
	}
	if len(list.TaskArns) == 0 {
		return "", fmt.Errorf("%w: service %s has no running task (desired %d, running %d, pending %d): nothing to open a session in; see `slipway status --stack %s`",
			ErrServiceUnreachable, name, api.DesiredCount, api.RunningCount, api.PendingCount, o.Target.Stack)
	}
	tasks, err := o.AWS.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(o.Outputs.ClusterName), Tasks: list.TaskArns})
	if err != nil {
		return "", o.ecsError("ecs DescribeTasks", err)
	}
	var why []string
	for _, t := range tasks.Tasks {
		id := lastPart(aws.ToString(t.TaskArn))
		if aws.ToString(t.LastStatus) != "RUNNING" || !t.EnableExecuteCommand {
			why = append(why, fmt.Sprintf("%s is %s, execute command %v", id, aws.ToString(t.LastStatus), t.EnableExecuteCommand))
			continue
		}
		agent := "absent"
		for _, c := range t.Containers {
			if aws.ToString(c.Name) != ECSExecContainer {
				continue
			}
			for _, a := range c.ManagedAgents {
				if a.Name == ecstypes.ManagedAgentNameExecuteCommandAgent {
					agent = aws.ToString(a.LastStatus)
				}
			}
		}
		if agent == "RUNNING" {
			return aws.ToString(t.TaskArn), nil
		}
		why = append(why, fmt.Sprintf("%s: ECS Exec agent in container %s is %s", id, ECSExecContainer, agent))
	}
	return "", fmt.Errorf("%w: no task of service %s can take an ECS Exec session (%s)", ErrServiceUnreachable, name, strings.Join(why, "; "))
}

// ECSShellArgs are the AWS CLI arguments of a shell in an api task.
func (o *Ops) ECSShellArgs(task string) []string {
	return []string{"ecs", "execute-command", "--cluster", o.Outputs.ClusterName, "--task", task,
		"--container", ECSExecContainer, "--interactive", "--command", "/bin/sh", "--region", o.AWS.Region}
}

// ECSPsqlQuery is what to run in an api task instead of psql: node and
// node-postgres (the api image's), as the application's role, with the
// task's own settings (DATABASE_* and PGSSLMODE from the task definition,
// DATABASE_PASSWORD from its secret); the query is its argument.
const ECSPsqlQuery = `node -e "const {Client}=require('/app/node_modules/pg');const e=process.env;` +
	`const c=new Client({host:e.DATABASE_HOST,port:+e.DATABASE_PORT,user:e.DATABASE_USER,password:e.DATABASE_PASSWORD,database:e.DATABASE_NAME});` +
	`c.connect().then(()=>c.query(process.argv[1])).then(r=>{console.table(r.rows);return c.end()},err=>{console.error(err.message);process.exit(1)})" 'SELECT now()'`

// ecsPsql says that no ECS task has psql and what to run instead: the
// api image (app/api/Dockerfile, node:…-bookworm-slim) has no Postgres
// client, and the database (RDS) admits only the tasks.
func (o *Ops) ecsPsql() error {
	return fmt.Errorf("%w: the ECS tasks of stack %s have no psql client (the api image ships node and node-postgres, no Postgres client), "+
		"and the database admits only the tasks. Open a shell in an api task with `slipway shell --stack %s` and query as the application's role with node:\n  %s\n"+
		"(replace SELECT now() with your query; one statement per run)",
		ErrNoPsqlClient, o.Target.Stack, o.Target.Stack, ECSPsqlQuery)
}

// lastPart is what follows an ARN's last "/" (a task definition's
// family:revision, a task's id), or s itself.
func lastPart(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}
