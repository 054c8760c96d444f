package mockcloud

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// The offline SSM answers getParametersByPath from two kinds of parameters:
// those a test says the account already holds (Cloud.Parameter, e.g. a
// receipt an earlier rollout wrote), and the receipts of the rollouts this
// run starts. The offline host runs every association of a rollout
// document it records and reports it as the release script does: a
// receipt <path>receipts/<releaseId> (path /<project>/<stack>/, the
// program's parameter path) saying healthy, or failed as Cloud.FailRollouts
// says.

// Parameter says the account holds an SSM parameter before the run.
func (c *Cloud) Parameter(name, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parameters == nil {
		c.parameters = map[string]string{}
	}
	c.parameters[name] = value
}

// FailRollouts makes the offline host report every rollout of this run
// failed: the service that failed and its last log lines.
func (c *Cloud) FailRollouts(service, reason string, logs ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failure = &rolloutFailure{service, reason, logs}
}

// LoseReceipts makes the offline host write no receipt for this run's
// rollouts, as when the document failed before the release script ran.
func (c *Cloud) LoseReceipts() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noReceipts = true
}

type rolloutFailure struct {
	service, reason string
	logs            []string
}

// ssmInvoke answers getParametersByPath; ok is false for other tokens.
func (c *Cloud) ssmInvoke(token string, args resource.PropertyMap) (resource.PropertyMap, bool, error) {
	if token != "aws:ssm/getParametersByPath:getParametersByPath" {
		return nil, false, nil
	}
	path := ""
	if v, ok := args["path"]; ok && v.IsString() {
		path = strings.TrimSuffix(v.StringValue(), "/")
	}
	recursive := false
	if v, ok := args["recursive"]; ok && v.IsBool() {
		recursive = v.BoolValue()
	}
	all := c.heldParameters()
	var names []string
	for n := range all {
		rest, ok := strings.CutPrefix(n, path+"/")
		if ok && (recursive || !strings.Contains(rest, "/")) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	values, types, arns := make([]any, len(names)), make([]any, len(names)), make([]any, len(names))
	for i, n := range names {
		values[i], types[i], arns[i] = all[n], "String", "arn:aws:ssm:"+c.Region+":"+Account+":parameter"+n
	}
	return props(map[string]any{"id": path, "path": path, "names": anys(names), "values": values, "types": types, "arns": arns}), true, nil
}

// heldParameters are the test's parameters plus the receipts of the
// rollouts recorded so far.
func (c *Cloud) heldParameters() map[string]string {
	c.mu.Lock()
	out := map[string]string{}
	for k, v := range c.parameters {
		out[k] = v
	}
	failure, lost := c.failure, c.noReceipts
	c.mu.Unlock()
	for _, r := range c.Resources() {
		if lost {
			break
		}
		if r.Type != "aws:ssm/association:Association" || !strings.HasSuffix(r.Str("name"), "-rollout") {
			continue
		}
		id, attempt := r.Str("parameters.releaseId"), r.Str("parameters.attempt")
		receipt := map[string]any{"releaseId": id, "status": "healthy", "attempt": attempt}
		if failure != nil {
			receipt["status"], receipt["service"], receipt["reason"], receipt["logs"] = "failed", failure.service, failure.reason, failure.logs
		}
		b, _ := json.Marshal(receipt)
		out["/"+c.Project+"/"+c.Stack+"/receipts/"+id] = string(b)
	}
	return out
}
