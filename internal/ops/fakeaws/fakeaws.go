// Package fakeaws is the ops tests' fake AWS (a test helper, imported
// only by tests): what no emulator covers. kumo (0.33.1) answers SSM's
// parameter calls but not SendCommand, GetCommandInvocation or
// DescribeInstanceInformation (TestKumoHasNoRunCommand checks that), and no
// emulator speaks Session Manager. So those three calls run against this
// small HTTP server, which speaks the AWS JSON 1.1 protocol the SDK uses
// for SSM (POST /, X-Amz-Target: AmazonSSM.<Operation>, errors as
// {"__type": code, "message": ...}). It models only what the operations
// depend on, each as AWS documents it:
//   - DescribeInstanceInformation with the InstanceIds filter: the
//     registered instances and their PingStatus;
//   - SendCommand: InvalidDocument for a document the account lacks,
//     InvalidInstanceId for an unknown instance, InvalidParameters for a
//     `stack` outside the document's allowedPattern;
//   - GetCommandInvocation: InvocationDoesNotExist right after the send
//     (SSM records it a moment later), then the scripted statuses.
//
// It also plays FilterLogEvents with NextToken paging, which kumo does not
// implement (kumo truncates at Limit and returns no token), and the ECS and
// WAFv2 calls of the ECS profile (ecs.go).
package fakeaws

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is one request the fake received: the operation (the
// X-Amz-Target after the service's prefix) and its JSON body.
type Request struct {
	Operation string
	Body      map[string]any
	// Region is the one the request was signed for (SigV4's credential
	// scope), which is the client's region.
	Region string
}

var credentialScope = regexp.MustCompile(`Credential=[^/]+/[0-9]{8}/([a-z0-9-]+)/`)

// Invocation is one answer of GetCommandInvocation.
type Invocation struct {
	Status, Details, Stdout, Stderr string
}

// Server is the fake. Set its fields before the calls under test.
type Server struct {
	mu sync.Mutex
	// Instances: instance id -> PingStatus (Online, ConnectionLost, ...).
	Instances map[string]string
	// Documents the account has, by name.
	Documents map[string]bool
	// Script: GetCommandInvocation's answers after the first (which is
	// InvocationDoesNotExist); the last one repeats.
	Script   []Invocation
	polls    int
	requests []Request

	// LogPages: FilterLogEvents answers by NextToken ("" first).
	LogPages map[string]map[string]any

	// ECS (ecs.go): the clusters by name, their services, the task
	// definitions of every family, and ListTaskDefinitions' page size.
	Clusters        map[string]bool
	ECSServices     []*ECSService
	TaskDefinitions []*ECSTaskDefinition
	ECSPageSize     int
	// PatternSets: WAF regex pattern sets by id (ecs.go).
	PatternSets map[string]*PatternSet

	// HTTP serves the fake; HTTP.URL is the endpoint.
	HTTP *httptest.Server
}

var stackPatterns = map[string]*regexp.Regexp{
	"dev": regexp.MustCompile(`^dev$`), "review": regexp.MustCompile(`^pr-[0-9]+$`), "prod": regexp.MustCompile(`^prod$`),
}

// New starts the fake, closed when the test ends.
func New(t testing.TB) *Server {
	f := &Server{Instances: map[string]string{}, Documents: map[string]bool{},
		Clusters: map[string]bool{}, PatternSets: map[string]*PatternSet{}}
	f.HTTP = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.HTTP.Close)
	return f
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
		f.fail(w, 400, "SerializationException", "not an AWS JSON 1.1 request: "+r.Method+" "+r.Header.Get("Content-Type"))
		return
	}
	// Signed with the credentials the operation found (SigV4).
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") {
		f.fail(w, 400, "MissingAuthenticationTokenException", "request is not signed")
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		f.fail(w, 400, "SerializationException", err.Error())
		return
	}
	op, service, _ := strings.Cut(target, ".")
	op, service = service, op
	f.mu.Lock()
	defer f.mu.Unlock()
	req := Request{Operation: op, Body: body}
	if m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		req.Region = m[1]
	}
	f.requests = append(f.requests, req)
	switch service + "." + op {
	case "AmazonEC2ContainerServiceV20141113." + op:
		f.serveECS(w, op, body)
	case "AWSWAF_20190729." + op:
		f.serveWAF(w, op, body)
	case "AmazonSSM.DescribeInstanceInformation":
		f.describe(w, body)
	case "AmazonSSM.SendCommand":
		f.send(w, body)
	case "AmazonSSM.GetCommandInvocation":
		f.invocation(w, body)
	case "Logs_20140328.FilterLogEvents":
		token, _ := body["nextToken"].(string)
		page, ok := f.LogPages[token]
		if !ok {
			f.fail(w, 400, "InvalidParameterException", "unknown nextToken "+token)
			return
		}
		f.answer(w, page)
	default:
		f.fail(w, 400, "InvalidAction", "the fake does not serve "+target)
	}
}

func (f *Server) describe(w http.ResponseWriter, body map[string]any) {
	var ids []string
	filters, _ := body["Filters"].([]any)
	for _, x := range filters {
		filter, _ := x.(map[string]any)
		if filter["Key"] != "InstanceIds" {
			f.fail(w, 400, "InvalidFilterKey", fmt.Sprint(filter["Key"]))
			return
		}
		for _, v := range filter["Values"].([]any) {
			ids = append(ids, v.(string))
		}
	}
	list := []any{}
	for _, id := range ids {
		if status, ok := f.Instances[id]; ok {
			list = append(list, map[string]any{
				"InstanceId": id, "PingStatus": status, "LastPingDateTime": float64(time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC).Unix()),
				"PlatformType": "Linux", "ResourceType": "EC2Instance",
			})
		}
	}
	f.answer(w, map[string]any{"InstanceInformationList": list})
}

func (f *Server) send(w http.ResponseWriter, body map[string]any) {
	name, _ := body["DocumentName"].(string)
	if !f.Documents[name] {
		f.fail(w, 400, "InvalidDocument", "Document "+name+" does not exist in your account.")
		return
	}
	for _, id := range body["InstanceIds"].([]any) {
		if _, ok := f.Instances[id.(string)]; !ok {
			f.fail(w, 400, "InvalidInstanceId", "Instances ["+id.(string)+"] not in a valid state for account")
			return
		}
	}
	// slipway-<class>-<kind>: the document's `stack` allowedPattern.
	class := strings.Split(name, "-")[1]
	params, _ := body["Parameters"].(map[string]any)
	stack, _ := params["stack"].([]any)
	if len(stack) != 1 || !stackPatterns[class].MatchString(fmt.Sprint(stack[0])) {
		f.fail(w, 400, "InvalidParameters", "Parameter \"stack\" does not match the allowed pattern of "+name)
		return
	}
	f.polls = 0
	f.answer(w, map[string]any{"Command": map[string]any{"CommandId": "0b6e2b5c-fake-4c1d-9a37-command", "DocumentName": name}})
}

func (f *Server) invocation(w http.ResponseWriter, body map[string]any) {
	f.polls++
	if f.polls == 1 || len(f.Script) == 0 {
		f.fail(w, 400, "InvocationDoesNotExist", "")
		return
	}
	inv := f.Script[min(f.polls-2, len(f.Script)-1)]
	f.answer(w, map[string]any{
		"CommandId": body["CommandId"], "InstanceId": body["InstanceId"],
		"Status": inv.Status, "StatusDetails": inv.Details,
		"StandardOutputContent": inv.Stdout, "StandardErrorContent": inv.Stderr,
	})
}

func (f *Server) answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *Server) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"__type": code, "message": msg})
}

// Requests lists every request the fake received, in order.
func (f *Server) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// Sent lists the requests of one operation.
func (f *Server) Sent(op string) []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Request
	for _, r := range f.requests {
		if r.Operation == op {
			out = append(out, r)
		}
	}
	return out
}

// Env points the SDK's default configuration at the endpoints with
// test credentials and nothing from this machine's own AWS setup.
func Env(t testing.TB, ssmURL, logsURL string) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                "AKIAFAKEOPSTEST00000",
		"AWS_SECRET_ACCESS_KEY":            "fake-secret-for-the-test",
		"AWS_SESSION_TOKEN":                "",
		"AWS_PROFILE":                      "",
		"AWS_DEFAULT_PROFILE":              "",
		"AWS_CONFIG_FILE":                  none,
		"AWS_SHARED_CREDENTIALS_FILE":      none,
		"AWS_EC2_METADATA_DISABLED":        "true",
		"AWS_REGION":                       "",
		"AWS_DEFAULT_REGION":               "",
		"AWS_ENDPOINT_URL":                 "",
		"AWS_ENDPOINT_URL_SSM":             ssmURL,
		"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": logsURL,
		// Set by EnvECS; never the machine's own.
		"AWS_ENDPOINT_URL_ECS":                "http://127.0.0.1:1",
		"AWS_ENDPOINT_URL_WAFV2":              "http://127.0.0.1:1",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "",
	} {
		t.Setenv(k, v)
	}
}

// EnvECS points the SDK's ECS and WAFv2 clients at url (after Env).
func EnvECS(t testing.TB, url string) {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL_ECS", url)
	t.Setenv("AWS_ENDPOINT_URL_WAFV2", url)
}
