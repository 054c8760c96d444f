package infra

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// cdnBuild is a test-only wiring of queue, alerts and monitoring with a
// distribution id, as the lead wires the edge's at merge.
func cdnBuild(ctx *pulumi.Context) (pulumi.Map, error) {
	cfg, err := stacks.Load(ctx)
	if err != nil {
		return nil, err
	}
	p, err := newProviders(ctx, cfg)
	if err != nil {
		return nil, err
	}
	acct := lookupAccount(ctx, p.Regional, cfg.Region)
	regional := pulumi.Provider(p.Regional)
	queue, err := NewQueue(ctx, "queue", QueueArgs{Config: cfg.Queue, Account: acct}, regional)
	if err != nil {
		return nil, err
	}
	alerts, err := NewAlerts(ctx, "alerts", AlertsArgs{Email: "ops@example.com", Account: acct,
		AlarmNamePrefix: "slipway-" + cfg.Stack + "-", Global: p.Global}, regional)
	if err != nil {
		return nil, err
	}
	m, err := NewMonitoring(ctx, "monitoring", MonitoringArgs{
		Stack: cfg.Stack, Account: acct, InstanceID: pulumi.String("i-0123456789abcdef0"), Queue: queue, Alerts: alerts,
		Global: p.Global, DashboardName: dashboardName(cfg), DistributionID: pulumi.String("E2EXAMPLE12345"),
	}, regional)
	if err != nil {
		return nil, err
	}
	return pulumi.Map{"dashboardUrl": m.DashboardURL}, nil
}

func TestCloudFrontAlarmLivesInUSEast1WithItsTopic(t *testing.T) {
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		files, err := stacks.ReadFiles("..", "prod")
		if err != nil {
			t.Fatal(err)
		}
		files.SetSecret("slipway:dbPassword", "test-db-password-0f9c2e7a")
		files.SetSecret("slipway:originSecret", "test-origin-secret-5b1d8e3c")
		files.Values["aws:region"] = region
		res, err := mockcloud.Run(cdnBuild, "slipway", "prod", files, false)
		if err != nil {
			t.Fatal(err)
		}
		alarm, ok := res.Find("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-cdn-5xx")
		if !ok {
			t.Fatalf("%s: no CloudFront alarm", region)
		}
		if alarm.Region != "us-east-1" || !strings.Contains(alarm.Provider, "aws-us-east-1") {
			t.Errorf("%s: CloudFront alarm in %s (provider %s)", region, alarm.Region, alarm.Provider)
		}
		if alarm.Str("namespace") != "AWS/CloudFront" || alarm.Str("metricName") != "5xxErrorRate" ||
			alarm.Str("dimensions.DistributionId") != "E2EXAMPLE12345" || alarm.Str("dimensions.Region") != "Global" ||
			alarm.In("actionsEnabled") != true {
			t.Errorf("%s: CloudFront alarm %v", region, alarm.Inputs)
		}
		actions, _ := alarm.In("alarmActions").([]any)
		if len(actions) != 1 {
			t.Fatalf("%s: actions %v", region, actions)
		}
		var topicRegion string
		for _, topic := range res.ByType("aws:sns/topic:Topic") {
			if topic.Out("arn") == actions[0] {
				topicRegion = topic.Region
			}
		}
		if topicRegion != "us-east-1" {
			t.Errorf("%s: the CloudFront alarm notifies a topic in %q", region, topicRegion)
		}
		for _, a := range res.ByType("aws:cloudwatch/metricAlarm:MetricAlarm") {
			if a.Name != "monitoring-cdn-5xx" && a.Region != region {
				t.Errorf("%s: alarm %s in %s", region, a.Name, a.Region)
			}
		}
		d := res.ByType("aws:cloudwatch/dashboard:Dashboard")[0]
		if !strings.Contains(d.Str("dashboardBody"), "E2EXAMPLE12345") {
			t.Errorf("%s: dashboard lacks the distribution", region)
		}
	}
}

func TestVisibilityTimeoutBounds(t *testing.T) {
	for budget, want := range map[int]int{1: 31, 30: 60, 900: 930, 43200: 43200} {
		if got := visibilityTimeout(budget); got != want || got <= min(budget, maxVisibilitySeconds-1) {
			t.Errorf("visibilityTimeout(%d) = %d, want %d", budget, got, want)
		}
	}
}

// The host's metrics publisher, run as the timer runs it (with --dry-run
// instead of the CloudWatch call).
func TestHostMetricsScript(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to test infra/hostfiles/slipway-metrics.py")
	}
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	run := func(env ...string) map[string]float64 {
		t.Helper()
		cmd := exec.Command(python, "hostfiles/slipway-metrics.py", "--dry-run")
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("slipway-metrics: %v", err)
		}
		var req struct {
			Namespace  string
			MetricData []struct {
				MetricName string
				Dimensions []struct{ Name, Value string }
				Value      float64
				Unit       string
			}
		}
		if err := json.Unmarshal(out, &req); err != nil {
			t.Fatalf("slipway-metrics output %q: %v", out, err)
		}
		got := map[string]float64{}
		for _, m := range req.MetricData {
			if req.Namespace != "Slipway" || len(m.Dimensions) != 1 || m.Dimensions[0].Name != "Stack" || m.Dimensions[0].Value != "dev" {
				t.Errorf("metric %+v in %s", m, req.Namespace)
			}
			got[m.MetricName] = m.Value
		}
		return got
	}
	dir := t.TempDir()
	base := []string{"SLIPWAY_STACK=dev", "SLIPWAY_READY_URL=" + srv.URL + "/readyz", "SLIPWAY_DATA_DIR=" + dir}
	got := run(append(base, "SLIPWAY_METRICS_ASSUME_MOUNTED=1")...)
	if got["ApiReady"] != 1 || got["DataVolumeUsedPercent"] <= 0 || got["DataVolumeUsedPercent"] > 100 ||
		got["RootVolumeUsedPercent"] <= 0 {
		t.Errorf("healthy host: %v", got)
	}
	status = http.StatusServiceUnavailable
	got = run(base...)
	if got["ApiReady"] != 0 {
		t.Errorf("503 from /readyz: ApiReady = %v", got["ApiReady"])
	}
	// A data directory that is not a mount point says nothing about the
	// data volume: no number rather than the root volume's.
	if _, ok := got["DataVolumeUsedPercent"]; ok {
		t.Errorf("unmounted data dir reported: %v", got)
	}
	srv.Close()
	if got = run(base...); got["ApiReady"] != 0 {
		t.Errorf("no server: ApiReady = %v", got["ApiReady"])
	}
	cmd := exec.Command(python, "hostfiles/slipway-metrics.py", "--dry-run")
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "SLIPWAY_STACK=") })
	if err := cmd.Run(); err == nil {
		t.Error("runs without SLIPWAY_STACK")
	}
}
