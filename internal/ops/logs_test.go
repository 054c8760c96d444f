package ops

// `slipway logs` against kumo, an AWS emulator (pinned in tools/kumo.sh,
// cached at .cache/bin/kumo-v0.33.1): CreateLogGroup, CreateLogStream and
// PutLogEvents (the test's setup), DescribeLogGroups and FilterLogEvents
// (the command's) run against kumo. What kumo 0.33.1 was found to answer
// (its source, internal/service/cloudwatchlogs): DescribeLogGroups with a
// prefix and paging; FilterLogEvents with StartTime, at most Limit events
// (50 by default) and never a NextToken. So FilterLogEvents' paging is
// tested against the fake instead (TestFakeLogsFollowsNextToken), and
// kumo's lack of Run Command is pinned by TestKumoHasNoRunCommand.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"slipway/internal/ops/fakeaws"
)

const kumoVersion = "v0.33.1"

// startKumo runs kumo on 127.0.0.1 and a free port and returns its URL.
// Without the binary the test is skipped, loudly; with
// SLIPWAY_REQUIRE_KUMO set (CI) it fails instead.
func startKumo(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("KUMO_BIN")
	if bin == "" {
		bin, _ = filepath.Abs(filepath.Join("..", "..", ".cache", "bin", "kumo-"+kumoVersion))
	}
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("\n\n*** SKIPPING: kumo %s is not at %s (build it with tools/kumo.sh, or set KUMO_BIN): "+
			"the CloudWatch Logs calls of `slipway logs` were NOT tested against an emulator ***\n", kumoVersion, bin)
		if os.Getenv("SLIPWAY_REQUIRE_KUMO") != "" {
			t.Fatal(msg)
		}
		fmt.Fprint(os.Stderr, msg)
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	var log bytes.Buffer
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("kumo did not start at %s: %v\n%s", url, err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kumoOps connects as an operator of the stack, CloudWatch Logs at kumo
// (SSM at an address that refuses: logs never calls SSM).
func kumoOps(t *testing.T, stack string) (opsRun, *cloudwatchlogs.Client) {
	t.Helper()
	url := startKumo(t)
	fakeaws.Env(t, "http://127.0.0.1:1", url)
	clients, err := Connect(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	target, err := NewTarget(stack)
	if err != nil {
		t.Fatal(err)
	}
	r := opsRun{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	r.ops = &Ops{Target: target, Outputs: Outputs{InstanceID: testInstance, Region: "us-east-1"}, AWS: clients,
		Stdout: r.stdout, Stderr: r.stderr, PollInterval: 20 * time.Millisecond}
	return r, clients.Logs.(*cloudwatchlogs.Client)
}

func putEvents(t *testing.T, c *cloudwatchlogs.Client, group, stream string, at []time.Time, text string) {
	t.Helper()
	ctx := context.Background()
	_, _ = c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)})
	_, _ = c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)})
	var events []types.InputLogEvent
	for i, ts := range at {
		events = append(events, types.InputLogEvent{Timestamp: aws.Int64(ts.UnixMilli()), Message: aws.String(fmt.Sprintf("%s %03d\n", text, i))})
	}
	if len(events) == 0 {
		return
	}
	if _, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream), LogEvents: events}); err != nil {
		t.Fatalf("kumo PutLogEvents %s/%s: %v", group, stream, err)
	}
}

func times(from time.Time, n int, step time.Duration) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = from.Add(time.Duration(i) * step)
	}
	return out
}

var logServices = []string{"api", "worker", "proxy", "db"}

func TestKumoLogsReadsTheServiceGroupByConvention(t *testing.T) {
	r, c := kumoOps(t, "pr-1")
	now := time.Now()
	// The target, its neighbours by prefix, and a group off the pattern.
	putEvents(t, c, "slipway-pr-1-logs-api-0a1b2c3d", "api/abc", times(now.Add(-5*time.Minute), 70, time.Second), "api-a")
	putEvents(t, c, "slipway-pr-1-logs-api-0a1b2c3d", "api/def", times(now.Add(-5*time.Minute).Add(500*time.Millisecond), 60, time.Second), "api-b")
	putEvents(t, c, "slipway-pr-1-logs-api-0a1b2c3d", "api/old", times(now.Add(-2*time.Hour), 3, time.Second), "too-old")
	putEvents(t, c, "slipway-pr-12-logs-api-33334444", "api/x", times(now.Add(-time.Minute), 2, time.Second), "other-stack")
	putEvents(t, c, "slipway-pr-1-logs-worker-55556666", "w/x", times(now.Add(-time.Minute), 2, time.Second), "worker")
	putEvents(t, c, "slipway-pr-1-logs-api-backup", "b/x", times(now.Add(-time.Minute), 2, time.Second), "off-pattern")

	if err := r.ops.Logs(context.Background(), LogsOptions{Service: "api", Since: 10 * time.Minute, Services: logServices}); err != nil {
		t.Fatalf("Logs: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout.String()), "\n")
	// 130 events: more than kumo's default page of 50, so a request
	// without Limit would have lost some.
	if len(lines) != 130 {
		t.Fatalf("printed %d lines, want 130 (all of api's in the last 10 minutes):\n%s", len(lines), r.stdout)
	}
	for _, bad := range []string{"too-old", "other-stack", "worker", "off-pattern"} {
		if strings.Contains(r.stdout.String(), bad) {
			t.Errorf("printed events of %q", bad)
		}
	}
	// Oldest first, interleaving the two streams.
	if !strings.Contains(lines[0], "api/abc api-a 000") || !strings.Contains(lines[1], "api/def api-b 000") {
		t.Errorf("first lines: %q, %q", lines[0], lines[1])
	}
	for i := 1; i < len(lines); i++ {
		if lines[i] < lines[i-1] {
			t.Fatalf("line %d is older than line %d: %q < %q", i, i-1, lines[i], lines[i-1])
		}
	}
}

func TestKumoLogsNoGroupIsNotDeployed(t *testing.T) {
	r, _ := kumoOps(t, "dev")
	err := r.ops.Logs(context.Background(), LogsOptions{Service: "api", Services: logServices})
	if !errors.Is(err, ErrNotDeployed) || !strings.Contains(err.Error(), "slipway-dev-logs-api-") {
		t.Fatalf("err = %v", err)
	}
	err = r.ops.Logs(context.Background(), LogsOptions{Service: "nginx", Services: logServices})
	if err == nil || !strings.Contains(err.Error(), "api, worker, proxy, db") {
		t.Fatalf("err = %v", err)
	}
}

func TestKumoLogsOutputNamesTheGroup(t *testing.T) {
	r, c := kumoOps(t, "dev")
	putEvents(t, c, "custom-api-group", "s", times(time.Now().Add(-time.Minute), 2, time.Second), "from-output")
	r.ops.Outputs.LogGroups = map[string]string{"api": "custom-api-group"}
	if err := r.ops.Logs(context.Background(), LogsOptions{Service: "api", Services: logServices}); err != nil {
		t.Fatal(err)
	}
	if strings.Count(r.stdout.String(), "from-output") != 2 {
		t.Errorf("stdout: %s", r.stdout)
	}
}

// lockedBuffer is written by the following Logs and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestKumoLogsFollowPrintsNewEventsOnce(t *testing.T) {
	r, c := kumoOps(t, "dev")
	group := "slipway-dev-logs-worker-9f8e7d6c"
	now := time.Now()
	putEvents(t, c, group, "worker/1", times(now.Add(-time.Minute), 3, time.Second), "before")
	out := &lockedBuffer{}
	r.ops.Stdout = out
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ops.Logs(ctx, LogsOptions{Service: "worker", Follow: true, Services: logServices}) }()

	waitFor := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(out.String(), what) < n {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("waited for %d %q lines; got:\n%s", n, what, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("before", 3)
	// New events in a second stream, after several polls have passed.
	time.Sleep(100 * time.Millisecond)
	putEvents(t, c, group, "worker/2", times(time.Now(), 4, time.Millisecond), "after")
	waitFor("after", 4)
	time.Sleep(150 * time.Millisecond) // more polls over the same window
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("follow ended with %v", err)
	}
	if n := strings.Count(out.String(), "before"); n != 3 {
		t.Errorf("the first events were printed %d times, want 3:\n%s", n, out.String())
	}
	if n := strings.Count(out.String(), "after"); n != 4 {
		t.Errorf("the new events were printed %d times, want 4:\n%s", n, out.String())
	}
}

// Why SSM's Run Command has a fake: kumo does not answer it.
func TestKumoHasNoRunCommand(t *testing.T) {
	url := startKumo(t)
	fakeaws.Env(t, url, url)
	clients, err := Connect(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = clients.SSM.SendCommand(context.Background(), &ssm.SendCommandInput{DocumentName: aws.String("slipway-dev-status"), InstanceIds: []string{testInstance}})
	if err == nil {
		t.Fatal("kumo answered SendCommand: the ops tests could use kumo for Run Command now; revisit fakeaws")
	}
	t.Logf("kumo %s answers SendCommand with: %v (so Run Command runs against the fake)", kumoVersion, err)
}

// FilterLogEvents' paging against the fake (kumo never returns a token).
func TestFakeLogsFollowsNextToken(t *testing.T) {
	f, r := newFakeOps(t, "dev")
	r.ops.Outputs.LogGroups = map[string]string{"db": "slipway-dev-logs-db-01234567"}
	ts := time.Now().Add(-time.Minute).UnixMilli()
	event := func(i int) map[string]any {
		return map[string]any{"logStreamName": "db/x", "eventId": fmt.Sprint(i), "timestamp": ts + int64(i), "message": fmt.Sprintf("page-event-%d", i)}
	}
	f.LogPages = map[string]map[string]any{
		"":   {"events": []any{event(1), event(2)}, "nextToken": "t2"},
		"t2": {"events": []any{event(3)}, "nextToken": "t3"},
		"t3": {"events": []any{event(4)}},
	}
	if err := r.ops.Logs(context.Background(), LogsOptions{Service: "db", Services: logServices}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if !strings.Contains(r.stdout.String(), fmt.Sprintf("page-event-%d", i)) {
			t.Errorf("event %d of the pages missing:\n%s", i, r.stdout)
		}
	}
	if n := len(f.Sent("FilterLogEvents")); n != 3 {
		t.Errorf("FilterLogEvents calls = %d, want 3 (one per page)", n)
	}
}

// On an ECS stack the tasks write to the same groups (infra/cluster.go:
// awslogs, awslogs-stream-prefix = the container's name), so streams are
// <container>/<container>/<task id>: db-setup, migrate and api share the
// api group. Against kumo, as the host's.
func TestKumoLogsOnECSReadsTheTaskStreams(t *testing.T) {
	r, c := kumoOps(t, "prod")
	r.ops.Outputs = Outputs{Compute: ComputeECS, ClusterName: "cluster-1", Region: "us-east-1",
		LogGroups: map[string]string{"api": "slipway-prod-logs-api-0a1b2c3d", "worker": "slipway-prod-logs-worker-4e5f6a7b",
			"proxy": "slipway-prod-logs-proxy-8c9d0e1f", "db": "slipway-prod-logs-db-2a3b4c5d"}}
	now := time.Now()
	task := "3f2e1d0c9b8a47f6a5b4c3d2e1f0a9b8"
	putEvents(t, c, "slipway-prod-logs-api-0a1b2c3d", "db-setup/db-setup/"+task, times(now.Add(-3*time.Minute), 1, time.Second), "role ready")
	putEvents(t, c, "slipway-prod-logs-api-0a1b2c3d", "migrate/migrate/"+task, times(now.Add(-2*time.Minute), 2, time.Second), "migrated")
	putEvents(t, c, "slipway-prod-logs-api-0a1b2c3d", "api/api/"+task, times(now.Add(-time.Minute), 3, time.Second), "listening")
	if err := r.ops.Logs(context.Background(), LogsOptions{Service: "api", Services: logServices}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout.String()), "\n")
	if len(lines) != 6 || !strings.Contains(lines[0], " db-setup/db-setup/"+task+" role ready 000") ||
		!strings.Contains(lines[1], " migrate/migrate/"+task+" migrated 000") || !strings.Contains(lines[5], " api/api/"+task+" listening 002") {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
	// No proxy and no db container on ECS: said, with where to look.
	for _, svc := range []string{"proxy", "db"} {
		err := r.ops.Logs(context.Background(), LogsOptions{Service: svc, Services: logServices})
		if err == nil || !strings.Contains(err.Error(), "stack prod runs on ECS: only api and worker log there") ||
			!strings.Contains(err.Error(), "/aws/rds/instance/slipway-prod-db/postgresql") {
			t.Errorf("%s: err = %v", svc, err)
		}
	}
}
