package fakeaws

// ECS and AWS WAF (wafv2) for the ECS profile's operations. kumo 0.33.1
// serves part of ECS (CreateCluster, RegisterTaskDefinition,
// CreateService, UpdateService) but not DescribeServices,
// DescribeTaskDefinition, ListTaskDefinitions, ListTasks or the
// deployment history (ListServiceDeployments), and no WAFv2
// at all (internal/ops TestKumoLacksTheECSAndWAFCalls pins that); the SDK
// reaches one endpoint per service, so every ECS and WAFv2 call of the
// tests runs here. Both speak AWS JSON 1.1 like SSM (X-Amz-Target
// AmazonEC2ContainerServiceV20141113.<Op> with camelCase members, and
// AWSWAF_20190729.<Op> with PascalCase members). Modelled as AWS
// documents them, only what the operations depend on:
//   - an unknown cluster is ClusterNotFoundException; DescribeServices of
//     an unknown service answers a failure with reason MISSING;
//   - UpdateService refuses an INACTIVE task definition (ECS: "You can't
//     update an existing service to reference an INACTIVE task definition
//     revision"), starts a deployment (the old one stays ACTIVE) that
//     completes after ECSService.StableAfter DescribeServices polls, or,
//     with ECSService.FailRollout, fails and is rolled back by the
//     circuit breaker to the previous task definition;
//   - RegisterTaskDefinition adds the family's next revision, ACTIVE;
//   - ListServiceDeployments answers the service's history filtered by
//     status, oldest first, paged; DescribeServiceRevisions takes at most
//     20 ARNs and names each revision's task definition;
//   - ListTaskDefinitions filters by familyPrefix (a prefix, as ECS does)
//     and status (default ACTIVE), sorts by revision, and pages by
//     ECSPageSize;
//   - UpdateRegexPatternSet needs the lock token of the set's current
//     version (WAFOptimisticLockException otherwise) and replaces the
//     expressions and the description.

import (
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

const ecsARN = "arn:aws:ecs:us-east-1:123456789012:"

// ECSTaskDefinition is one revision of a family.
type ECSTaskDefinition struct {
	Family   string
	Revision int
	// Status is ACTIVE or INACTIVE.
	Status string
	// Body is the definition's other members (containerDefinitions, cpu,
	// roles...), as registered.
	Body map[string]any
	Tags []any
}

// ARN is the revision's task definition ARN.
func (d *ECSTaskDefinition) ARN() string {
	return fmt.Sprintf("%stask-definition/%s:%d", ecsARN, d.Family, d.Revision)
}

// ECSService is a service of a cluster.
type ECSService struct {
	Cluster, Name, Status string
	TaskDefinition        string
	Desired               int
	// Deployments: the first is PRIMARY.
	Deployments []map[string]any
	// StableAfter: DescribeServices polls after an UpdateService before
	// the new deployment is COMPLETED.
	StableAfter int
	// FailRollout: the next deployment fails and the circuit breaker rolls
	// back to the task definition before it.
	FailRollout bool
	// Lag: DescribeServices answers what the service was before the last
	// UpdateService for this many polls (ECS is eventually consistent).
	Lag    int
	before map[string]any
	// Tasks: its tasks (ListTasks, DescribeTasks).
	Tasks []ECSTask
	// History: its service deployments, oldest first
	// (ListServiceDeployments, DescribeServiceRevisions); a finished
	// rollout adds one.
	History []ServiceDeployment
	polls   int
}

// ServiceDeployment is one entry of a service's deployment history.
type ServiceDeployment struct {
	// TaskDefinition is its target revision's task definition ARN.
	TaskDefinition string
	// Status: SUCCESSFUL, ROLLBACK_SUCCESSFUL, STOPPED...
	Status string
}

// ECSTask is a task of a service.
type ECSTask struct {
	ID, LastStatus string
	ExecEnabled    bool
	// ExecAgent is the api container's ExecuteCommandAgent status;
	// "" means no such agent.
	ExecAgent string
}

// PatternSet is a WAF regex pattern set.
type PatternSet struct {
	Name, Scope, Description string
	Regexes                  []string
	LockToken                string
	// LockConflicts: how many next updates find the set changed by
	// another writer first (their token no longer current).
	LockConflicts int
	versions      int
}

// Deployment is an ECS deployment's JSON.
func Deployment(status, taskDefinition, rollout string, desired, running int) map[string]any {
	return map[string]any{
		"id": "ecs-svc/" + taskDefinition[strings.LastIndex(taskDefinition, "/")+1:], "status": status, "taskDefinition": taskDefinition,
		"desiredCount": desired, "runningCount": running, "pendingCount": desired - running, "failedTasks": 0,
		"rolloutState": rollout, "rolloutStateReason": "ECS deployment " + strings.ToLower(rollout) + ".",
	}
}

// AddTaskDefinition registers a revision directly (the test's setup).
func (f *Server) AddTaskDefinition(family string, revision int, status string, images map[string]string) *ECSTaskDefinition {
	f.mu.Lock()
	defer f.mu.Unlock()
	var containers []any
	names := make([]string, 0, len(images))
	for n := range images {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		containers = append(containers, map[string]any{"name": n, "image": images[n], "essential": n == "api" || n == "worker"})
	}
	d := &ECSTaskDefinition{Family: family, Revision: revision, Status: status, Body: map[string]any{
		"containerDefinitions": containers, "cpu": "256", "memory": "512", "networkMode": "awsvpc",
		"requiresCompatibilities": []any{"FARGATE"}, "executionRoleArn": "arn:aws:iam::123456789012:role/slipway/" + family + "-execution",
		"taskRoleArn": "arn:aws:iam::123456789012:role/slipway/" + family + "-task",
		"volumes":     []any{map[string]any{"name": "tmp"}},
	}, Tags: []any{map[string]any{"key": "stack", "value": "dev"}}}
	f.TaskDefinitions = append(f.TaskDefinitions, d)
	return d
}

// Service is the named service, for the test to inspect.
func (f *Server) Service(name string) *ECSService {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.ECSServices {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// PatternSetNow is the pattern set's current state, for the test.
func (f *Server) PatternSetNow(id string) PatternSet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.PatternSets[id]
}

func (f *Server) taskDefinition(ref string) *ECSTaskDefinition {
	ref = strings.TrimPrefix(ref, ecsARN+"task-definition/")
	for _, d := range f.TaskDefinitions {
		if ref == fmt.Sprintf("%s:%d", d.Family, d.Revision) {
			return d
		}
	}
	return nil
}

func (d *ECSTaskDefinition) json() map[string]any {
	out := map[string]any{"taskDefinitionArn": d.ARN(), "family": d.Family, "revision": d.Revision, "status": d.Status}
	for k, v := range d.Body {
		out[k] = v
	}
	return out
}

func (f *Server) serviceJSON(s *ECSService) map[string]any {
	running, pending := 0, 0
	for _, d := range s.Deployments {
		running += d["runningCount"].(int)
		pending += d["pendingCount"].(int)
	}
	return map[string]any{
		"serviceName": s.Name, "serviceArn": ecsARN + "service/" + s.Cluster + "/" + s.Name, "clusterArn": ecsARN + "cluster/" + s.Cluster,
		"status": s.Status, "taskDefinition": s.TaskDefinition, "desiredCount": s.Desired, "runningCount": running, "pendingCount": pending,
		"deployments": s.Deployments, "launchType": "FARGATE",
	}
}

// advance moves a service's rollout one poll on.
func (f *Server) advance(s *ECSService) {
	if len(s.Deployments) < 2 {
		return
	}
	s.polls++
	if s.polls < s.StableAfter {
		s.Deployments[0]["runningCount"] = min(s.Desired, s.polls)
		s.Deployments[0]["pendingCount"] = s.Desired - min(s.Desired, s.polls)
		return
	}
	if s.FailRollout {
		// The circuit breaker: the failed deployment goes, a new PRIMARY
		// on the previous task definition takes over.
		old, failed := s.Deployments[1]["taskDefinition"].(string), s.TaskDefinition
		s.TaskDefinition = old
		d := Deployment("PRIMARY", old, "FAILED", s.Desired, s.Desired)
		d["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
		s.Deployments = []map[string]any{d}
		s.FailRollout = false
		s.History = append(s.History, ServiceDeployment{TaskDefinition: failed, Status: "ROLLBACK_SUCCESSFUL"})
		return
	}
	s.Deployments = []map[string]any{Deployment("PRIMARY", s.TaskDefinition, "COMPLETED", s.Desired, s.Desired)}
	s.History = append(s.History, ServiceDeployment{TaskDefinition: s.TaskDefinition, Status: "SUCCESSFUL"})
}

func (f *Server) serveECS(w http.ResponseWriter, op string, body map[string]any) {
	str := func(k string) string { s, _ := body[k].(string); return s }
	if c := str("cluster"); c != "" && !f.Clusters[c] {
		f.fail(w, 400, "ClusterNotFoundException", "Cluster not found.")
		return
	}
	switch op {
	case "DescribeServices":
		services, failures := []any{}, []any{}
		for _, n := range body["services"].([]any) {
			var found *ECSService
			for _, s := range f.ECSServices {
				if s.Cluster == str("cluster") && s.Name == n {
					found = s
				}
			}
			if found == nil {
				failures = append(failures, map[string]any{"arn": ecsARN + "service/" + str("cluster") + "/" + n.(string), "reason": "MISSING"})
				continue
			}
			if found.Lag > 0 && found.before != nil {
				found.Lag--
				services = append(services, found.before)
				continue
			}
			f.advance(found)
			services = append(services, f.serviceJSON(found))
		}
		f.answer(w, map[string]any{"services": services, "failures": failures})
	case "DescribeTaskDefinition":
		d := f.taskDefinition(str("taskDefinition"))
		if d == nil {
			f.fail(w, 400, "ClientException", "Unable to describe task definition.")
			return
		}
		out := map[string]any{"taskDefinition": d.json()}
		if inc, _ := body["include"].([]any); len(inc) == 1 && inc[0] == "TAGS" {
			out["tags"] = d.Tags
		}
		f.answer(w, out)
	case "ListTaskDefinitions":
		status := str("status")
		if status == "" {
			status = "ACTIVE"
		}
		var match []*ECSTaskDefinition
		for _, d := range f.TaskDefinitions {
			if strings.HasPrefix(d.Family, str("familyPrefix")) && d.Status == status {
				match = append(match, d)
			}
		}
		sort.Slice(match, func(i, j int) bool {
			if str("sort") == "DESC" {
				return match[i].Revision > match[j].Revision
			}
			return match[i].Revision < match[j].Revision
		})
		start, _ := strconv.Atoi(str("nextToken"))
		size := f.ECSPageSize
		if size <= 0 {
			size = 100
		}
		out := map[string]any{}
		arns := []any{}
		for i := start; i < len(match) && i < start+size; i++ {
			arns = append(arns, match[i].ARN())
		}
		if start+size < len(match) {
			out["nextToken"] = strconv.Itoa(start + size)
		}
		out["taskDefinitionArns"] = arns
		f.answer(w, out)
	case "RegisterTaskDefinition":
		family := str("family")
		next := 1
		for _, d := range f.TaskDefinitions {
			if d.Family == family && d.Revision >= next {
				next = d.Revision + 1
			}
		}
		d := &ECSTaskDefinition{Family: family, Revision: next, Status: "ACTIVE", Body: map[string]any{}}
		for k, v := range body {
			if k != "family" && k != "tags" {
				d.Body[k] = v
			}
		}
		d.Tags, _ = body["tags"].([]any)
		f.TaskDefinitions = append(f.TaskDefinitions, d)
		f.answer(w, map[string]any{"taskDefinition": d.json(), "tags": d.Tags})
	case "UpdateService":
		var s *ECSService
		for _, x := range f.ECSServices {
			if x.Cluster == str("cluster") && x.Name == str("service") {
				s = x
			}
		}
		if s == nil {
			f.fail(w, 400, "ServiceNotFoundException", "Service not found.")
			return
		}
		if s.Status != "ACTIVE" {
			f.fail(w, 400, "ServiceNotActiveException", "Service was not ACTIVE.")
			return
		}
		d := f.taskDefinition(str("taskDefinition"))
		if d == nil {
			f.fail(w, 400, "ClientException", "Unable to describe task definition.")
			return
		}
		if d.Status != "ACTIVE" {
			f.fail(w, 400, "ClientException", "TaskDefinition is inactive")
			return
		}
		s.before = f.serviceJSON(s)
		s.before["deployments"] = []any{maps.Clone(s.Deployments[0])}
		old := s.Deployments[0]
		old["status"] = "ACTIVE"
		s.TaskDefinition = d.ARN()
		s.Deployments = []map[string]any{Deployment("PRIMARY", d.ARN(), "IN_PROGRESS", s.Desired, 0), old}
		s.polls = 0
		f.answer(w, map[string]any{"service": f.serviceJSON(s)})
	case "ListTasks":
		arns := []any{}
		for _, s := range f.ECSServices {
			if s.Cluster == str("cluster") && s.Name == str("serviceName") {
				for _, t := range s.Tasks {
					if t.LastStatus == "RUNNING" || t.LastStatus == "PENDING" {
						arns = append(arns, ecsARN+"task/"+s.Cluster+"/"+t.ID)
					}
				}
			}
		}
		f.answer(w, map[string]any{"taskArns": arns})
	case "DescribeTasks":
		tasks := []any{}
		for _, a := range body["tasks"].([]any) {
			for _, s := range f.ECSServices {
				for _, t := range s.Tasks {
					if a == ecsARN+"task/"+s.Cluster+"/"+t.ID {
						agents := []any{}
						if t.ExecAgent != "" {
							agents = append(agents, map[string]any{"name": "ExecuteCommandAgent", "lastStatus": t.ExecAgent})
						}
						tasks = append(tasks, map[string]any{"taskArn": a, "lastStatus": t.LastStatus, "enableExecuteCommand": t.ExecEnabled,
							"containers": []any{map[string]any{"name": "api", "lastStatus": t.LastStatus, "managedAgents": agents}}})
					}
				}
			}
		}
		f.answer(w, map[string]any{"tasks": tasks, "failures": []any{}})
	case "ListServiceDeployments":
		var s *ECSService
		for _, x := range f.ECSServices {
			if x.Cluster == str("cluster") && x.Name == str("service") {
				s = x
			}
		}
		if s == nil {
			f.fail(w, 400, "ServiceNotFoundException", "Service not found.")
			return
		}
		want := map[string]bool{}
		for _, st := range body["status"].([]any) {
			want[st.(string)] = true
		}
		var match []any
		for i, h := range s.History {
			if len(want) > 0 && !want[h.Status] {
				continue
			}
			// One deployment a day, oldest first (the order is the
			// caller's to sort).
			at := float64(1764547200 + 86400*i)
			match = append(match, map[string]any{
				"serviceDeploymentArn":     fmt.Sprintf("%sservice-deployment/%s/%s/d%d", ecsARN, s.Cluster, s.Name, i),
				"serviceArn":               ecsARN + "service/" + s.Cluster + "/" + s.Name,
				"clusterArn":               ecsARN + "cluster/" + s.Cluster,
				"targetServiceRevisionArn": fmt.Sprintf("%sservice-revision/%s/%s/%d", ecsARN, s.Cluster, s.Name, i),
				"status":                   h.Status, "createdAt": at, "startedAt": at, "finishedAt": at + 600,
			})
		}
		start, _ := strconv.Atoi(str("nextToken"))
		size := f.ECSPageSize
		if size <= 0 {
			size = 20
		}
		out := map[string]any{"serviceDeployments": append([]any{}, match[min(start, len(match)):min(start+size, len(match))]...)}
		if start+size < len(match) {
			out["nextToken"] = strconv.Itoa(start + size)
		}
		f.answer(w, out)
	case "DescribeServiceRevisions":
		arns := body["serviceRevisionArns"].([]any)
		if len(arns) > 20 {
			f.fail(w, 400, "InvalidParameterException", "at most 20 service revision ARNs")
			return
		}
		revisions, failures := []any{}, []any{}
		for _, a := range arns {
			found := false
			for _, s := range f.ECSServices {
				for i, h := range s.History {
					if a == fmt.Sprintf("%sservice-revision/%s/%s/%d", ecsARN, s.Cluster, s.Name, i) {
						found = true
						revisions = append(revisions, map[string]any{"serviceRevisionArn": a, "serviceArn": ecsARN + "service/" + s.Cluster + "/" + s.Name,
							"clusterArn": ecsARN + "cluster/" + s.Cluster, "taskDefinition": h.TaskDefinition, "launchType": "FARGATE"})
					}
				}
			}
			if !found {
				failures = append(failures, map[string]any{"arn": a, "reason": "MISSING"})
			}
		}
		f.answer(w, map[string]any{"serviceRevisions": revisions, "failures": failures})
	default:
		f.fail(w, 400, "InvalidAction", "the fake does not serve ECS "+op)
	}
}

func (f *Server) serveWAF(w http.ResponseWriter, op string, body map[string]any) {
	str := func(k string) string { s, _ := body[k].(string); return s }
	set, ok := f.PatternSets[str("Id")]
	if !ok || set.Name != str("Name") || set.Scope != str("Scope") {
		f.fail(w, 400, "WAFNonexistentItemException", "AWS WAF couldn’t perform the operation because your resource doesn't exist.")
		return
	}
	switch op {
	case "GetRegexPatternSet":
		list := []any{}
		for _, r := range set.Regexes {
			list = append(list, map[string]any{"RegexString": r})
		}
		f.answer(w, map[string]any{"RegexPatternSet": map[string]any{
			"Name": set.Name, "Id": str("Id"), "ARN": "arn:aws:wafv2:us-east-1:123456789012:regional/regexpatternset/" + set.Name + "/" + str("Id"),
			"Description": set.Description, "RegularExpressionList": list,
		}, "LockToken": set.LockToken})
	case "UpdateRegexPatternSet":
		if set.LockConflicts > 0 {
			set.LockConflicts--
			set.versions++
			set.LockToken = fmt.Sprintf("lock-%d", set.versions)
		}
		if str("LockToken") != set.LockToken {
			f.fail(w, 400, "WAFOptimisticLockException", "AWS WAF couldn’t save your changes because someone changed the resource after you started to edit it.")
			return
		}
		set.Regexes = nil
		for _, x := range body["RegularExpressionList"].([]any) {
			set.Regexes = append(set.Regexes, x.(map[string]any)["RegexString"].(string))
		}
		set.Description = str("Description")
		set.versions++
		set.LockToken = fmt.Sprintf("lock-%d", set.versions)
		f.answer(w, map[string]any{"NextLockToken": set.LockToken})
	default:
		f.fail(w, 400, "InvalidAction", "the fake does not serve WAFv2 "+op)
	}
}
