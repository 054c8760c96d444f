package infra_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"gopkg.in/yaml.v3"

	"slipway/app"
	"slipway/infra/foundation"
	"slipway/internal/mockcloud"
	"slipway/internal/testproject"
	"slipway/program"
	"slipway/stacks"
)

const testDatadogKey = "test-datadog-key-7c2a9e41"

var digestPinned = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$`)

func param(t *testing.T, res *mockcloud.Result, name string) mockcloud.Resource {
	t.Helper()
	for _, r := range res.ByType("aws:ssm/parameter:Parameter") {
		if r.Str("name") == name {
			return r
		}
	}
	t.Fatalf("%s: no SSM parameter %s", res.Stack, name)
	return mockcloud.Resource{}
}

func withDatadog(f *stacks.Files) { f.SetSecret("slipway:datadogApiKey", testDatadogKey) }

func TestRegistry(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		repos := res.ByType("aws:ecr/repository:Repository")
		var names []string
		for _, r := range repos {
			names = append(names, r.Name)
			if r.Str("imageTagMutability") != "IMMUTABLE" || r.In("imageScanningConfiguration.scanOnPush") != true ||
				r.Str("encryptionConfigurations[0].encryptionType") != "AES256" {
				t.Errorf("%s: repository %s = %v", stack, r.Name, r.Inputs)
			}
			if want := stack == "pr-7"; r.In("forceDelete") != want {
				t.Errorf("%s: repository %s forceDelete = %v, want %v", stack, r.Name, r.In("forceDelete"), want)
			}
			if !strings.HasPrefix(r.Out("name").(string), "slipway-"+stack+"-") {
				t.Errorf("%s: repository name %v is not auto-named", stack, r.Out("name"))
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"api", "db", "proxy"}) {
			t.Errorf("%s: repositories %v", stack, names)
		}
		if p := res.ByType("aws:ecr/repositoryPolicy:RepositoryPolicy"); len(p) != 0 {
			t.Errorf("%s: repository policies %v", stack, p)
		}
		keep := map[string]float64{"dev": 10, "prod": 30, "pr-7": 10}[stack]
		for _, lp := range res.ByType("aws:ecr/lifecyclePolicy:LifecyclePolicy") {
			var p struct {
				Rules []struct{ Selection map[string]any }
			}
			if err := json.Unmarshal([]byte(lp.Str("policy")), &p); err != nil || len(p.Rules) != 2 {
				t.Fatalf("%s: lifecycle policy %s: %v", stack, lp.Str("policy"), err)
			}
			if p.Rules[0].Selection["tagStatus"] != "untagged" || p.Rules[0].Selection["countNumber"] != 1.0 ||
				p.Rules[1].Selection["tagStatus"] != "tagged" || p.Rules[1].Selection["countNumber"] != keep {
				t.Errorf("%s: lifecycle %s", stack, lp.Str("policy"))
			}
		}
		if n := len(res.ByType("aws:ecr/lifecyclePolicy:LifecyclePolicy")); n != 3 {
			t.Errorf("%s: %d lifecycle policies", stack, n)
		}

		for _, img := range res.ByType("docker:index/image:Image") {
			if img.Str("build.platform") != "linux/arm64" || img.In("buildOnPreview") != false {
				t.Errorf("%s: image %s build = %v", stack, img.Name, img.In("build"))
			}
			if c := img.Str("build.context"); !strings.HasSuffix(c, filepath.Join("app", img.Name)) || filepath.IsAbs(c) {
				t.Errorf("%s: image %s context %s", stack, img.Name, img.Str("build.context"))
			}
			name := img.Str("imageName")
			if !regexp.MustCompile(`:[0-9a-f]{24}$`).MatchString(name) {
				t.Errorf("%s: image %s is not tagged by content: %s", stack, img.Name, name)
			}
			if cf, _ := img.In("build.cacheFrom.images").([]any); len(cf) == 0 {
				t.Errorf("%s: image %s has no cache source", stack, img.Name)
			}
			reg := img.Inputs["registry"].ObjectValue()
			if !reg["password"].ContainsSecrets() {
				t.Errorf("%s: image %s registry password is not secret", stack, img.Name)
			}
			if reg["server"].IsNull() || reg["username"].IsNull() {
				t.Errorf("%s: image %s registry = %v", stack, img.Name, reg)
			}
		}

		// The host may pull exactly these repositories.
		policy := ""
		for _, rp := range res.ByType("aws:iam/rolePolicy:RolePolicy") {
			if strings.Contains(rp.Str("policy"), "ecr:") {
				policy = rp.Str("policy")
			}
		}
		var repoARNs []string
		for _, r := range repos {
			repoARNs = append(repoARNs, r.Out("arn").(string))
		}
		slices.Sort(repoARNs)
		found := 0
		for _, st := range parsePolicy(t, policy).Statement {
			switch st.Sid {
			case "EcrLogin":
				found++
				if !slices.Equal(strs(st.Action), []string{"ecr:GetAuthorizationToken"}) || !slices.Equal(strs(st.Resource), []string{"*"}) {
					t.Errorf("%s: EcrLogin = %+v", stack, st)
				}
			case "EcrPull":
				found++
				got := strs(st.Resource)
				slices.Sort(got)
				if !slices.Equal(got, repoARNs) || slices.Contains(strs(st.Action), "ecr:PutImage") {
					t.Errorf("%s: EcrPull = %+v, want resources %v", stack, st, repoARNs)
				}
			}
		}
		if found != 2 {
			t.Errorf("%s: host policy lacks the ECR grants: %s", stack, policy)
		}
	}
}

func TestX86HostsGetAmd64Images(t *testing.T) {
	res := deploy(t, "dev", func(f *stacks.Files) {
		f.Values["slipway:instanceType"] = "t3.small"
		f.Values["slipway:architecture"] = "x86_64"
	})
	for _, img := range res.ByType("docker:index/image:Image") {
		if img.Str("build.platform") != "linux/amd64" {
			t.Errorf("image %s platform %s", img.Name, img.Str("build.platform"))
		}
	}
}

func bundleObject(t *testing.T, res *mockcloud.Result) mockcloud.Resource {
	t.Helper()
	obj, ok := res.Find("aws:s3/bucketObjectv2:BucketObjectv2", "release-bundle")
	if !ok {
		t.Fatalf("%s: no release bundle object", res.Stack)
	}
	return obj
}

// bundleOf is the release's bundle as the host's loader reads it: the
// stack's one bundle object, releases/<releaseId>.json in the release
// store's bucket, as {path: content}.
func bundleOf(t *testing.T, res *mockcloud.Result) map[string]string {
	t.Helper()
	obj := bundleObject(t, res)
	var b struct {
		ReleaseID string            `json:"releaseId"`
		Files     map[string]string `json:"files"`
	}
	if err := json.Unmarshal([]byte(obj.Str("content")), &b); err != nil {
		t.Fatalf("%s: the bundle object is not JSON: %v", res.Stack, err)
	}
	if id := res.Outputs["releaseId"].Value; b.ReleaseID != id || obj.Str("key") != "releases/"+mockcloud.Str(id)+".json" {
		t.Errorf("%s: bundle object %s holds release %s, the stack's is %v", res.Stack, obj.Str("key"), b.ReleaseID, id)
	}
	return b.Files
}

// loadCompose validates a rendered compose file with compose-go, as
// docker compose on the host would load it (next to its env files).
func loadCompose(t *testing.T, bundle map[string]string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"secrets/db.env": "POSTGRES_PASSWORD='x'\n", "secrets/api.env": "DATABASE_PASSWORD='x'\n",
		"secrets/proxy.env": "ORIGIN_HEADER_VALUE='y'\n", "secrets/datadog.env": "DD_API_KEY='z'\n",
	}
	for k, v := range bundle {
		files[k] = v
	}
	compose := bundle["compose.yaml"]
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithOsEnv, cli.WithDotEnv, cli.WithProfiles(nil))
	if err != nil {
		t.Fatal(err)
	}
	project, err := cli.ProjectFromOptions(context.Background(), opts)
	if err != nil {
		t.Fatalf("compose-go rejects the rendered compose file: %v\n%s", err, compose)
	}
	for name, svc := range project.Services {
		if !digestPinned.MatchString(svc.Image) {
			t.Errorf("service %s image %q is not pinned by digest", name, svc.Image)
		}
	}
	return project
}

// The rendered release carries what the other concerns hand it: the queue's
// URL, a log group per service, and a worker grace period that follows the
// stack's processing budget (a stopping worker finishes the job in hand).
func TestReleaseCarriesQueueLogsAndWorkerBudget(t *testing.T) {
	res := deploy(t, "dev", func(f *stacks.Files) { f.Values["slipway:workerTimeoutSeconds"] = "300" })
	bundle := bundleOf(t, res)
	project := loadCompose(t, bundle)
	if got := project.Services["worker"].StopGracePeriod; got == nil || time.Duration(*got) != 315*time.Second {
		t.Errorf("worker stop_grace_period %v, want 315s (budget 300 s + 15 s)", got)
	}
	queue, _ := res.Find("aws:sqs/queue:Queue", "queue")
	for _, file := range []string{"api.env", "worker.env"} {
		if env := bundle[file]; !strings.Contains(env, "QUEUE_URL="+queue.Out("url").(string)) {
			t.Errorf("%s lacks the queue URL:\n%s", file, env)
		}
	}
	// The budget is the worker's alone: changing it recreates no other service.
	for file, want := range map[string]bool{"worker.env": true, "api.env": false, "db.env": false, "proxy.env": false} {
		if got := strings.Contains(bundle[file], "WORKER_JOB_TIMEOUT_SECONDS=300"); got != want {
			t.Errorf("%s carries the worker's budget: %v, want %v", file, got, want)
		}
	}
	for svc, logs := range map[string]string{"api-blue": "api", "api-green": "api", "worker": "worker", "proxy": "proxy", "db": "db"} {
		group, _ := res.Find("aws:cloudwatch/logGroup:LogGroup", "logs-"+logs)
		logging := project.Services[svc].Logging
		if logging == nil || logging.Driver != "awslogs" || logging.Options["awslogs-group"] != group.Out("name") {
			t.Errorf("%s logs to %+v, want awslogs group %v", svc, logging, group.Out("name"))
		}
	}
}

func TestReleaseBundle(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		bundle := bundleOf(t, res)
		if bundle["proxy/templates/default.conf.template"] != string(app.ProxyTemplate) {
			t.Errorf("%s: the bundle's nginx template is not app/proxy/templates/default.conf.template", stack)
		}
		compose := bundle["compose.yaml"]
		loadCompose(t, bundle)

		// The bundle object: in the release store's private bucket, SSE,
		// named by the release id (a new release is a new object, so no
		// fixed name is ever replaced).
		obj := bundleObject(t, res)
		store, _ := res.Find("aws:s3/bucketV2:BucketV2", "releases")
		if obj.Str("bucket") != store.ID || obj.Str("serverSideEncryption") != "AES256" || obj.Str("contentType") != "application/json" {
			t.Errorf("%s: bundle object %v", stack, obj.Inputs)
		}
		if p := param(t, res, "/slipway/"+stack+"/release/bucket"); p.Str("value") != store.Out("bucket") {
			t.Errorf("%s: release/bucket = %q, the store is %v", stack, p.Str("value"), store.Out("bucket"))
		}
		if want := stack == "pr-7"; store.In("forceDestroy") != want {
			t.Errorf("%s: release store forceDestroy = %v", stack, store.In("forceDestroy"))
		}
		for _, typ := range []string{"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws:s3/bucketVersioningV2:BucketVersioningV2",
			"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "aws:s3/bucketPolicy:BucketPolicy",
			"aws:s3/bucketOwnershipControls:BucketOwnershipControls"} {
			r, ok := res.Find(typ, "releases")
			if !ok || r.Str("bucket") != store.ID {
				t.Errorf("%s: the release store has no %s", stack, typ)
			}
		}
		pab, _ := res.Find("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "releases")
		for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
			if pab.In(k) != true {
				t.Errorf("%s: release store %s = %v", stack, k, pab.In(k))
			}
		}
		if pol, _ := res.Find("aws:s3/bucketPolicy:BucketPolicy", "releases"); !strings.Contains(pol.Str("policy"), "aws:SecureTransport") {
			t.Errorf("%s: the release store allows plain HTTP: %s", stack, pol.Str("policy"))
		}
		// Only the release id, the bucket's name, the attempt marker and
		// secrets are parameters, each with a fixed name: deleted before any
		// replacement.
		for _, p := range res.ByType("aws:ssm/parameter:Parameter") {
			if !p.DeleteBeforeReplace {
				t.Errorf("%s: parameter %s (a fixed name) is not deleted before it is replaced", stack, p.Str("name"))
			}
			if rest := strings.TrimPrefix(p.Str("name"), "/slipway/"+stack+"/"); rest != "release/id" && rest != "release/bucket" && rest != "release/attempt" && !strings.HasPrefix(rest, "secrets/") {
				t.Errorf("%s: parameter %s", stack, p.Str("name"))
			}
		}

		// Every image the release runs is a built image's digest.
		var digests []string
		for _, img := range res.ByType("docker:index/image:Image") {
			digests = append(digests, img.Out("repoDigest").(string))
		}
		for _, d := range digests {
			if !strings.Contains(compose, "image: "+d+"\n") {
				t.Errorf("%s: compose does not run %s", stack, d)
			}
		}
		out := res.Outputs["imageDigests"]
		var m map[string]any
		b, _ := json.Marshal(out.Value)
		_ = json.Unmarshal(b, &m)
		if out.Secret || len(m) != 3 {
			t.Errorf("%s: imageDigests = %+v", stack, out)
		}
		for name, d := range m {
			if s, _ := d.(string); !digestPinned.MatchString(s) || !slices.Contains(digests, s) {
				t.Errorf("%s: imageDigests[%s] = %v", stack, name, d)
			}
		}
		for name, content := range bundle {
			if strings.Contains(content, "datadog-agent:") || (strings.HasSuffix(name, ".env") && strings.Contains(content, "DD_")) {
				t.Errorf("%s: Datadog without a key in %s", stack, name)
			}
		}
		for file, wants := range map[string][]string{
			"api.env":    {"DATABASE_HOST=db\n", "AWS_REGION=us-east-1\n"},
			"worker.env": {"DATABASE_HOST=db\n", "AWS_REGION=us-east-1\n"},
			"proxy.env":  {"ORIGIN_HEADER_NAME=X-Origin-Verify\n"},
			"db.env":     {"POSTGRES_DB=app\n", "DATABASE_USER=app\n"},
		} {
			for _, want := range wants {
				if !strings.Contains(bundle[file], want) {
					t.Errorf("%s: %s lacks %q", stack, file, want)
				}
			}
		}
		id := param(t, res, "/slipway/"+stack+"/release/id")
		if out := res.Outputs["releaseId"]; out.Secret || out.Value != id.Str("value") || !regexp.MustCompile(`^[0-9a-f]{20}$`).MatchString(id.Str("value")) {
			t.Errorf("%s: releaseId output %+v, parameter %q", stack, out, id.Str("value"))
		}
		// The id is written after the bundle, its bucket and the secrets;
		// the attempt marker after the id (just before the rollout).
		marker := param(t, res, "/slipway/"+stack+"/release/attempt")
		if !slices.Contains(marker.Dependencies, id.URN) {
			t.Errorf("%s: the attempt marker does not wait for the release id", stack)
		}
		for _, p := range append(res.ByType("aws:ssm/parameter:Parameter"), obj) {
			if p.URN != id.URN && p.URN != marker.URN && !slices.Contains(id.Dependencies, p.URN) {
				t.Errorf("%s: release id does not wait for %s", stack, p.Name)
			}
		}
		if res.Outputs["releaseStatus"].Value != "healthy" {
			t.Errorf("%s: releaseStatus %v", stack, res.Outputs["releaseStatus"])
		}
	}
}

func TestSecretsAreSecureStringsAndNeverPlain(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack, withDatadog)
		// Per service: secrets/<service>/<KEY> becomes secrets/<service>.env
		// on the host, read only by that service.
		want := map[string]string{
			"api/DATABASE_PASSWORD": testDBPassword, "db/POSTGRES_PASSWORD": testDBPassword,
			"proxy/ORIGIN_HEADER_VALUE": testOriginSecret, "datadog/DD_API_KEY": testDatadogKey,
		}
		for key, value := range want {
			p := param(t, res, "/slipway/"+stack+"/secrets/"+key)
			if p.Str("type") != "SecureString" || p.Str("value") != value || !p.IsSecretInput("value") {
				t.Errorf("%s: %s type=%s secret=%v", stack, key, p.Str("type"), p.IsSecretInput("value"))
			}
		}
		n := 0
		for _, p := range res.ByType("aws:ssm/parameter:Parameter") {
			if strings.HasPrefix(p.Str("name"), "/slipway/"+stack+"/secrets/") {
				n++
			}
		}
		if n != len(want) {
			t.Errorf("%s: %d secret parameters, want exactly %v", stack, n, want)
		}
		// Each service reads only its own secrets.
		compose := bundleOf(t, res)["compose.yaml"]
		var doc struct {
			Services map[string]struct {
				EnvFile []string `yaml:"env_file"`
			} `yaml:"services"`
		}
		if err := yaml.Unmarshal([]byte(compose), &doc); err != nil {
			t.Fatal(err)
		}
		for svc, files := range map[string][]string{
			"db": {"./db.env", "./secrets/db.env"}, "api-blue": {"./api.env", "./secrets/api.env"},
			"api-green": {"./api.env", "./secrets/api.env"},
			"worker":    {"./worker.env", "./secrets/api.env"}, "proxy": {"./proxy.env", "./secrets/proxy.env"},
			"datadog-agent": {"./secrets/datadog.env"},
		} {
			if got := doc.Services[svc].EnvFile; !slices.Equal(got, files) {
				t.Errorf("%s: %s reads %v, want %v", stack, svc, got, files)
			}
		}
		// No secret value anywhere in plain text: not in user data, the
		// bundle, the document or any output.
		for _, r := range res.Resources {
			for k, v := range r.Inputs {
				if v.ContainsSecrets() {
					continue
				}
				plain := resource.NewObjectProperty(resource.PropertyMap{k: v}).String()
				for _, s := range []string{testDBPassword, testOriginSecret, testDatadogKey} {
					if strings.Contains(plain, s) {
						t.Errorf("%s: %s %s input %s holds a secret in plain text", stack, r.Type, r.Name, k)
					}
				}
			}
		}
		for name, o := range res.Outputs {
			b, _ := json.Marshal(o.Value)
			for _, s := range []string{testDBPassword, testOriginSecret, testDatadogKey} {
				if !o.Secret && strings.Contains(string(b), s) {
					t.Errorf("%s: output %s holds a secret", stack, name)
				}
			}
		}
	}
}

func TestDatadogOnlyWithAKey(t *testing.T) {
	for _, stack := range allStacks {
		on := deploy(t, stack, withDatadog)
		bundle := bundleOf(t, on)
		compose := bundle["compose.yaml"]
		if !strings.Contains(bundle[".env"], "COMPOSE_PROFILES=datadog\n") {
			t.Errorf("%s: .env = %q", stack, bundle[".env"])
		}
		for _, want := range []string{"DD_TRACE_ENABLED=true", "DD_AGENT_HOST=datadog-agent", "DD_SITE=datadoghq.com", "DD_ENV=" + stack, "DD_SERVICE=slipway-api"} {
			if !strings.Contains(bundle["api.env"], want+"\n") {
				t.Errorf("%s: api.env lacks %s", stack, want)
			}
		}
		if !regexp.MustCompile(`image: public\.ecr\.aws/datadog/agent:[0-9.]+@sha256:[0-9a-f]{64}\n`).MatchString(compose) {
			t.Errorf("%s: agent not pinned:\n%s", stack, compose)
		}
		loadCompose(t, bundle)

		off := deploy(t, stack)
		for _, r := range off.Resources {
			if strings.Contains(strings.ToLower(r.Name), "datadog") || strings.Contains(strings.ToLower(r.Str("name")), "dd_api_key") {
				t.Errorf("%s: %s %s exists without a Datadog key", stack, r.Type, r.Name)
			}
			// (The workload's compose keeps DD_TRACE_ENABLED: "false" for
			// the API, which is tracing explicitly off.)
		}
		for name, v := range bundleOf(t, off) {
			if strings.Contains(v, "DD_TRACE_ENABLED: \"true\"") || strings.Contains(v, "datadog-agent:") ||
				(!strings.HasPrefix(name, "bin/") && (strings.Contains(v, "DD_SITE") || strings.Contains(v, "COMPOSE_PROFILES"))) ||
				strings.HasSuffix(name, ".env") && strings.Contains(v, "DD_") {
				t.Errorf("%s: %s mentions Datadog without a key", stack, name)
			}
		}
		if on.Outputs["releaseId"].Value == off.Outputs["releaseId"].Value {
			t.Errorf("%s: enabling Datadog kept the release id", stack)
		}
	}
}

// The rollout is an association of the foundation's rollout document of
// the stack's class, by its fixed name: the app stack creates no document.
// The association's parameters are what the document admits, and pulumi up
// waits for it longer than the document may run.
func TestReleaseRolloutIsAnAssociationThatUpWaitsFor(t *testing.T) {
	classes := map[string]stacks.Profile{"dev": stacks.Dev, "prod": stacks.Prod, "pr-7": stacks.Review}
	for _, stack := range allStacks {
		res := deploy(t, stack)
		if docs := res.ByType("aws:ssm/document:Document"); len(docs) != 0 {
			t.Errorf("%s: the app stack creates %d SSM documents; host documents belong to the foundation", stack, len(docs))
		}
		assoc := one(t, res, "aws:ssm/association:Association")
		instance := one(t, res, "aws:ec2/instance:Instance")
		class := classes[stack]
		if want := "slipway-" + string(class) + "-rollout"; assoc.Str("name") != want {
			t.Errorf("%s: the association runs %q, not the %s class's document %s", stack, assoc.Str("name"), class, want)
		}
		raw, err := foundation.HostDocumentContent(class, foundation.DocumentRollout)
		if err != nil {
			t.Fatal(err)
		}
		var content struct {
			Parameters map[string]struct{ AllowedPattern string }
			MainSteps  []struct {
				Inputs struct {
					TimeoutSeconds string
					RunCommand     []string
				}
			}
		}
		if err := json.Unmarshal([]byte(raw), &content); err != nil || len(content.MainSteps) != 1 {
			t.Fatalf("%s: document %v\n%s", class, err, raw)
		}
		if run := strings.Join(content.MainSteps[0].Inputs.RunCommand, "\n"); !strings.Contains(run, "/usr/local/sbin/slipway-release '{{ releaseId }}'") {
			t.Errorf("%s: document does not run the release script: %s", class, run)
		}
		if assoc.Str("targets[0].key") != "InstanceIds" || assoc.Str("targets[0].values[0]") != instance.ID {
			t.Errorf("%s: association targets %v", stack, assoc.Inputs)
		}
		if assoc.Str("parameters.releaseId") != res.Outputs["releaseId"].Value || assoc.Str("parameters.stack") != stack {
			t.Errorf("%s: association parameters releaseId %q stack %q", stack, assoc.Str("parameters.releaseId"), assoc.Str("parameters.stack"))
		}
		// Every parameter the association passes is one the document
		// declares, and its value passes the document's allowedPattern
		// (SSM refuses the association otherwise).
		params, _ := assoc.In("parameters").(map[string]any)
		if len(params) != len(content.Parameters) {
			t.Errorf("%s: the association passes %v, the document takes %v", stack, params, content.Parameters)
		}
		for k, v := range params {
			p, ok := content.Parameters[k]
			if !ok || !regexp.MustCompile(p.AllowedPattern).MatchString(mockcloud.Str(v)) {
				t.Errorf("%s: parameter %s=%v is not admitted by the document (pattern %q)", stack, k, v, p.AllowedPattern)
			}
		}
		// pulumi up waits longer than the document may run (the document's
		// own budget is checked in release_budget_test.go).
		docTimeout, err := strconv.Atoi(content.MainSteps[0].Inputs.TimeoutSeconds)
		if err != nil {
			t.Fatalf("%s: document timeoutSeconds: %v", class, err)
		}
		if w, _ := assoc.In("waitForSuccessTimeoutSeconds").(float64); int(w) < docTimeout+120 {
			t.Errorf("%s: pulumi up waits %v s for the rollout, not comfortably above the document's %d s", stack, assoc.In("waitForSuccessTimeoutSeconds"), docTimeout)
		}
		// waitForSuccessTimeoutSeconds applies to create only, so every
		// release (new parameters) and every new host (new targets) must be
		// a create: replace, deleting the old association first.
		for _, key := range []string{"parameters", "targets"} {
			if !slices.Contains(assoc.ReplaceOnChanges, key) {
				t.Errorf("%s: a change of the association's %s is an in-place update, which pulumi up does not wait for (replaceOnChanges %v)", stack, key, assoc.ReplaceOnChanges)
			}
		}
		if !assoc.DeleteBeforeReplace {
			t.Errorf("%s: the rollout association is not deleted before it is replaced", stack)
		}
		if assoc.In("scheduleExpression") != nil {
			t.Errorf("%s: the rollout runs on a schedule", stack)
		}
		if res.Outputs["releaseId"].Value == nil || !regexp.MustCompile(foundation.ReleaseIDPattern).MatchString(mockcloud.Str(res.Outputs["releaseId"].Value)) {
			t.Errorf("%s: release id %v does not have the documents' format %s", stack, res.Outputs["releaseId"].Value, foundation.ReleaseIDPattern)
		}
	}
}

// The host runs the release script where the foundation's documents look
// for it: the bootstrap installs it there and the boot unit runs it there.
func TestReleaseScriptIsWhereTheDocumentsRunIt(t *testing.T) {
	res := deploy(t, "dev")
	userData := one(t, res, "aws:ec2/instance:Instance").UserData()
	if !strings.Contains(userData, "path: "+foundation.ReleaseScript) {
		t.Errorf("the bootstrap does not install the release script at %s", foundation.ReleaseScript)
	}
	unit, err := os.ReadFile("hostfiles/slipway.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nExecStart="+foundation.ReleaseScript+" boot\n") {
		t.Errorf("slipway.service does not run %s boot:\n%s", foundation.ReleaseScript, unit)
	}
}

// copyProject copies what a run reads (Pulumi.yaml, stack files, the
// workload's sources and the fixture SPA build) into a directory the test
// may change.
func copyProject(t *testing.T) string {
	return testproject.Copy(t, "..", "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "app", fixtureSPA, "infra/hostfiles")
}

// An app-only change (new API source, so a new API image digest) is a new
// release and a new rollout, and changes nothing about the host.
func TestAppChangeRollsOutWithoutTouchingTheHost(t *testing.T) {
	for _, stack := range allStacks {
		dir := copyProject(t)
		inDir := func(f *stacks.Files) { f.Dir = dir }
		before := deploy(t, stack, inDir)

		server := filepath.Join(dir, "app", "api", "src", "server.js")
		f, err := os.OpenFile(server, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("\n// a change to the API only\n")
		f.Close()
		after := deploy(t, stack, inDir)

		digest := func(res *mockcloud.Result, image string) string {
			r, ok := res.Find("docker:index/image:Image", image)
			if !ok {
				t.Fatalf("%s: no image %s", stack, image)
			}
			return r.Out("repoDigest").(string)
		}
		if digest(before, "api") == digest(after, "api") {
			t.Errorf("%s: API change kept the API digest", stack)
		}
		for _, image := range []string{"db", "proxy"} {
			if digest(before, image) != digest(after, image) {
				t.Errorf("%s: API change changed the %s image", stack, image)
			}
		}
		if before.Outputs["releaseId"].Value == after.Outputs["releaseId"].Value {
			t.Errorf("%s: release id unchanged", stack)
		}
		a1, a2 := one(t, before, "aws:ssm/association:Association"), one(t, after, "aws:ssm/association:Association")
		if a1.Str("parameters.releaseId") == a2.Str("parameters.releaseId") {
			t.Errorf("%s: the rollout trigger did not change", stack)
		}
		i1, i2 := one(t, before, "aws:ec2/instance:Instance"), one(t, after, "aws:ec2/instance:Instance")
		if !reflect.DeepEqual(i1.Inputs, i2.Inputs) {
			t.Errorf("%s: an app change changed the instance's inputs:\n%v\n%v", stack, i1.Inputs, i2.Inputs)
		}
		// An unchanged app is an unchanged release.
		again := deploy(t, stack, inDir)
		if again.Outputs["releaseId"].Value != after.Outputs["releaseId"].Value {
			t.Errorf("%s: the same content gave a new release id", stack)
		}
	}
}

func TestMissingWorkloadIsAClearError(t *testing.T) {
	dir := copyProject(t)
	if err := os.RemoveAll(filepath.Join(dir, "app", "proxy")); err != nil {
		t.Fatal(err)
	}
	files := stackFiles(t, "dev")
	files.Dir = dir
	_, err := mockcloud.Run(program.Build, "slipway", "dev", files, false)
	if err == nil || !strings.Contains(err.Error(), filepath.Join("app", "proxy")) {
		t.Errorf("err = %v", err)
	}
}

// Preview builds nothing (no Docker daemon in a pull request's preview).
func TestPreviewNeedsNoDocker(t *testing.T) {
	for _, stack := range allStacks {
		res, err := mockcloud.Run(program.Build, "slipway", stack, stackFiles(t, stack), true)
		if err != nil {
			t.Fatalf("%s: preview: %v", stack, err)
		}
		for _, img := range res.ByType("docker:index/image:Image") {
			if img.In("buildOnPreview") != false {
				t.Errorf("%s: image %s builds on preview", stack, img.Name)
			}
		}
	}
}

// A truthful `pulumi up`: it succeeds only when the host's receipt says
// this attempt at this release is healthy, and otherwise fails with the
// host's reason, naming the service and its last log lines. A failed
// release retried with no change is the next attempt (a new parameter of
// the association, which replaceOnChanges turns into a new rollout); a
// healthy one keeps its attempt and rolls out nothing. The offline host
// (mockcloud) reports each rollout as told; the receipts it held before the
// run are what an earlier rollout wrote.
func TestReleaseUpFollowsTheHostsReceipt(t *testing.T) {
	files := stackFiles(t, "dev")
	first := deploy(t, "dev")
	id := mockcloud.Str(first.Outputs["releaseId"].Value)
	if a := one(t, first, "aws:ssm/association:Association"); a.Str("parameters.attempt") != "1" || first.Outputs["releaseStatus"].Value != "healthy" {
		t.Fatalf("a healthy first rollout: attempt %q, status %v", a.Str("parameters.attempt"), first.Outputs["releaseStatus"])
	}

	failing := mockcloud.New("slipway", "dev", files.Values["aws:region"])
	failing.FailRollouts("api", "unhealthy: api worker; rolled back to 0011223344556677aabb",
		"api-1  | Error: connect ECONNREFUSED 198.18.100.12:5432", "api-1  | the API exits")
	_, err := failing.Run(program.Build, files, false)
	if err == nil {
		t.Fatal("pulumi up succeeded while the host reported the release failed")
	}
	for _, want := range []string{"release " + id + " failed on the host (attempt 1)", "unhealthy: api worker", "service api failed",
		"Error: connect ECONNREFUSED 198.18.100.12:5432", "the API exits", "run `pulumi up` again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the failure does not say %q:\n%v", want, err)
		}
	}

	// A failed migration: no service failed; the reason is the cutover's
	// last line, the migration's error in it, and the lines are its output.
	migration := mockcloud.New("slipway", "dev", files.Values["aws:region"])
	migration.FailRollouts("", "release "+id+`: migration failed: relation "nobody" does not exist; still serving the previous release; rolled back to 0011223344556677aabb`,
		"slipway-cutover: release "+id+": migrating (api-green image, node src/migrate.js)", `migration failed: relation "nobody" does not exist`)
	_, err = migration.Run(program.Build, files, false)
	if err == nil {
		t.Fatal("pulumi up succeeded while the host reported a failed migration")
	}
	for _, want := range []string{"release " + id + " failed on the host (attempt 1): release " + id + `: migration failed: relation "nobody" does not exist; still serving the previous release`,
		"the release's last output lines on the host:\n  slipway-cutover: release " + id + ": migrating", "\n  migration failed: relation \"nobody\" does not exist\n"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the failed migration's error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "service  failed") {
		t.Errorf("a failed migration is reported as a failed service:\n%v", err)
	}

	receipt := func(status, attempt string) string {
		b, _ := json.Marshal(map[string]any{"releaseId": id, "status": status, "attempt": attempt, "service": "api", "logs": []string{"x"}})
		return string(b)
	}
	run := func(held string, dryRun bool) (*mockcloud.Result, error) {
		c := mockcloud.New("slipway", "dev", files.Values["aws:region"])
		c.Parameter("/slipway/dev/receipts/"+id, held)
		// Another release's receipt beside it changes nothing.
		c.Parameter("/slipway/dev/receipts/ffffffffffffffffffff", `{"status":"failed","attempt":"7"}`)
		return c.Run(program.Build, files, dryRun)
	}
	// The retry: the host said attempt 1 failed, so this is attempt 2.
	retry, err := run(receipt("failed", "1"), false)
	if err != nil {
		t.Fatalf("the retry (healthy this time): %v", err)
	}
	if a := one(t, retry, "aws:ssm/association:Association"); a.Str("parameters.attempt") != "2" ||
		!slices.Contains(a.ReplaceOnChanges, "parameters") {
		t.Errorf("a retry of a failed release: attempt %q (replaceOnChanges %v), want a new attempt 2", a.Str("parameters.attempt"), a.ReplaceOnChanges)
	}
	// After the healthy retry, the next up keeps attempt 2: nothing to run.
	again, err := run(receipt("healthy", "2"), false)
	if err != nil {
		t.Fatal(err)
	}
	if a := one(t, again, "aws:ssm/association:Association"); a.Str("parameters.attempt") != "2" {
		t.Errorf("after a healthy attempt 2 the attempt is %q: an unchanged release would roll out again", a.Str("parameters.attempt"))
	}
	// A preview reads the old receipt (to know the attempt) but waits for
	// no rollout: it neither fails nor claims health.
	if _, err := run(receipt("failed", "1"), true); err != nil {
		t.Errorf("a preview after a failed rollout fails: %v", err)
	}
	// The host's role may write exactly its stack's receipts and read
	// exactly its stack's bundles.
	policy := ""
	for _, rp := range first.ByType("aws:iam/rolePolicy:RolePolicy") {
		if strings.Contains(rp.Str("policy"), "WriteReleaseReceipts") {
			policy = rp.Str("policy")
		}
	}
	store, _ := first.Find("aws:s3/bucketV2:BucketV2", "releases")
	found := 0
	for _, st := range parsePolicy(t, policy).Statement {
		switch st.Sid {
		case "WriteReleaseReceipts":
			found++
			if !slices.Equal(strs(st.Action), []string{"ssm:DeleteParameters", "ssm:PutParameter"}) && !slices.Equal(strs(st.Action), []string{"ssm:PutParameter", "ssm:DeleteParameters"}) ||
				!slices.Equal(strs(st.Resource), []string{"arn:aws:ssm:us-east-1:" + mockcloud.Account + ":parameter/slipway/dev/receipts/*"}) {
				t.Errorf("receipts grant %+v", st)
			}
		case "ReadReleaseBundles":
			found++
			if !slices.Equal(strs(st.Action), []string{"s3:GetObject"}) || !slices.Equal(strs(st.Resource), []string{mockcloud.Str(store.Out("arn")) + "/releases/*"}) {
				t.Errorf("bundle grant %+v", st)
			}
		}
	}
	if found != 2 {
		t.Errorf("the host role lacks the receipt or bundle grant:\n%s", policy)
	}
}

// An attempt that began and left no receipt (the association failed before
// the release script ran: a host that never finished its bootstrap, a
// refused class check) is retried by a plain `pulumi up`: the program marks
// the attempt it begins (release/attempt, written before the association)
// and the next run, finding that attempt without a receipt, runs the next
// one, a new parameter that replaces the association. When the host writes
// no receipt, `pulumi up` fails saying so, with the association's real URN
// in the command that re-runs it.
func TestReleaseRetriesAnAttemptThatLeftNoReceipt(t *testing.T) {
	files := stackFiles(t, "dev")
	lost := mockcloud.New("slipway", "dev", files.Values["aws:region"])
	lost.LoseReceipts()
	res, err := lost.Run(program.Build, files, false)
	if err == nil {
		t.Fatal("pulumi up succeeded while the host wrote no receipt")
	}
	assoc := one(t, res, "aws:ssm/association:Association")
	id := assoc.Str("parameters.releaseId")
	if !strings.HasPrefix(assoc.URN, "urn:pulumi:dev::slipway::") || !strings.Contains(err.Error(), "`pulumi up --replace '"+assoc.URN+"'`") ||
		!strings.Contains(err.Error(), "the host wrote no receipt for attempt 1") || !strings.Contains(err.Error(), "A plain `pulumi up` retries it") {
		t.Errorf("the no-receipt error does not name the association's URN %q:\n%v", assoc.URN, err)
	}
	// The marker: this release, attempt 1, written before the association.
	var marker mockcloud.Resource
	for _, p := range res.ByType("aws:ssm/parameter:Parameter") {
		if p.Str("name") == "/slipway/dev/release/attempt" {
			marker = p
		}
	}
	if marker.Str("value") != `{"releaseId":"`+id+`","attempt":"1"}` || !marker.DeleteBeforeReplace || !slices.Contains(assoc.Dependencies, marker.URN) {
		t.Fatalf("the attempt marker: %q (deleteBeforeReplace %v), association depends on %v", marker.Str("value"), marker.DeleteBeforeReplace, assoc.Dependencies)
	}

	attemptWith := func(held map[string]string) string {
		t.Helper()
		c := mockcloud.New("slipway", "dev", files.Values["aws:region"])
		for k, v := range held {
			c.Parameter(k, v)
		}
		res, err := c.Run(program.Build, files, false)
		if err != nil {
			t.Fatalf("held %v: %v", held, err)
		}
		return one(t, res, "aws:ssm/association:Association").Str("parameters.attempt")
	}
	mark := func(rid, attempt string) string { return `{"releaseId":"` + rid + `","attempt":"` + attempt + `"}` }
	rec := func(status, attempt string) string {
		return `{"releaseId":"` + id + `","status":"` + status + `","attempt":"` + attempt + `"}`
	}
	const markerPath, receiptPath = "/slipway/dev/release/attempt", "/slipway/dev/receipts/"
	for _, c := range []struct {
		name string
		held map[string]string
		want string
	}{
		{"attempt 1 began, no receipt: retried", map[string]string{markerPath: mark(id, "1")}, "2"},
		{"attempt 3 began, the receipt is of attempt 2: retried", map[string]string{markerPath: mark(id, "3"), receiptPath + id: rec("failed", "2")}, "4"},
		{"attempt 2 healthy: kept", map[string]string{markerPath: mark(id, "2"), receiptPath + id: rec("healthy", "2")}, "2"},
		{"attempt 2 failed: retried", map[string]string{markerPath: mark(id, "2"), receiptPath + id: rec("failed", "2")}, "3"},
		{"another release's marker: a first attempt", map[string]string{markerPath: mark("ffffffffffffffffffff", "5")}, "1"},
		{"no marker (a stack from before it), attempt 2 healthy: kept", map[string]string{receiptPath + id: rec("healthy", "2")}, "2"},
	} {
		if got := attemptWith(c.held); got != c.want {
			t.Errorf("%s: attempt %s, want %s", c.name, got, c.want)
		}
	}
}

// Host scripts travel with the release: a change to the release script is
// a new release id (and bundle), never a change to the instance's user
// data, so it never replaces the host; the rollout document, which runs
// the stable loader at its fixed path, does not change either.
func TestHostScriptChangeIsARelease(t *testing.T) {
	dir := testproject.Copy(t, "..", "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "app", fixtureSPA, "infra/hostfiles")
	inDir := func(f *stacks.Files) { f.Dir = dir }
	before := deploy(t, "dev", inDir)
	doc, _ := foundation.HostDocumentContent(stacks.Dev, foundation.DocumentRollout)
	f, err := os.OpenFile(filepath.Join(dir, "infra", "hostfiles", "slipway-release.sh"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n# a fix to the release script\n")
	f.Close()
	after := deploy(t, "dev", inDir)
	if before.Outputs["releaseId"].Value == after.Outputs["releaseId"].Value {
		t.Error("a release script change kept the release id")
	}
	if !strings.Contains(bundleOf(t, after)["bin/slipway-release"], "# a fix to the release script") {
		t.Error("the bundle does not carry the changed release script")
	}
	a1, a2 := one(t, before, "aws:ssm/association:Association"), one(t, after, "aws:ssm/association:Association")
	if a1.Str("parameters.releaseId") == a2.Str("parameters.releaseId") || a1.Str("name") != a2.Str("name") {
		t.Errorf("the rollout: %v -> %v", a1.In("parameters"), a2.In("parameters"))
	}
	i1, i2 := one(t, before, "aws:ec2/instance:Instance"), one(t, after, "aws:ec2/instance:Instance")
	if i1.Str("userDataBase64") != i2.Str("userDataBase64") || !reflect.DeepEqual(i1.Inputs, i2.Inputs) {
		t.Error("a release script change changed the instance's user data")
	}
	if doc2, _ := foundation.HostDocumentContent(stacks.Dev, foundation.DocumentRollout); doc2 != doc {
		t.Error("a release script change changed the rollout document")
	}
}
