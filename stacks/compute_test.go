package stacks

import (
	"strings"
	"testing"
)

func TestPlatformDefaultsAreTheSingleHost(t *testing.T) {
	cfg, err := Parse("slipway", "pr-1", valid())
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Platform
	if p.Compute != ComputeHost || p.Database != DatabaseContainer || p.OnECS() || p.OnRDS() {
		t.Errorf("defaults: %+v, want host and container", p)
	}
	if p.RDS.InstanceClass != "db.t4g.micro" || p.RDS.BackupRetentionDays < 14 || p.Worker.MinTasks != 0 {
		t.Errorf("sizing defaults: %+v", p)
	}
}

func TestPlatformCombinations(t *testing.T) {
	ok := []struct {
		stack string
		src   Files
	}{
		{"pr-1", with("slipway:database", "rds")}, // a host whose database moved to RDS
		{"pr-1", with("slipway:compute", "ecs", "slipway:database", "rds")},
		{"prod", with("slipway:compute", "ecs", "slipway:database", "rds", "slipway:apiMinTasks", "2", "slipway:workerMinTasks", "1")},
		{"pr-1", with("slipway:apiCpu", "1024", "slipway:apiMemory", "3072")},
	}
	for _, c := range ok {
		if _, err := Parse("slipway", c.stack, c.src); err != nil {
			t.Errorf("%s %v: %v", c.stack, c.src.Values, err)
		}
	}
	bad := []struct {
		name  string
		stack string
		src   Files
		want  []string
	}{
		{"ecs with container", "pr-1", with("slipway:compute", "ecs"), []string{"slipway:database", `"container"`, "rds when slipway:compute is ecs"}},
		{"unknown compute", "pr-1", with("slipway:compute", "k8s"), []string{"slipway:compute", `"k8s"`, "host, ecs"}},
		{"unknown database", "pr-1", with("slipway:database", "sqlite"), []string{"slipway:database", "container, rds"}},
		{"fargate cpu", "pr-1", with("slipway:apiCpu", "300"), []string{"slipway:apiCpu", "256, 512"}},
		{"fargate pair", "pr-1", with("slipway:workerCpu", "1024", "slipway:workerMemory", "512"), []string{"slipway:workerMemory", "2048 to 8192"}},
		{"max below min", "pr-1", with("slipway:apiMinTasks", "3", "slipway:apiMaxTasks", "2"), []string{"slipway:apiMaxTasks", "at least slipway:apiMinTasks"}},
		{"prod one api task", "prod", with("slipway:compute", "ecs", "slipway:database", "rds", "slipway:workerMinTasks", "1"), []string{"slipway:apiMinTasks", "at least 2 in prod"}},
		{"prod worker to zero", "prod", with("slipway:compute", "ecs", "slipway:database", "rds", "slipway:apiMinTasks", "2"), []string{"slipway:workerMinTasks", "at least 1 in prod"}},
		{"prod short pitr", "prod", with("slipway:database", "rds", "slipway:rdsBackupRetentionDays", "7"), []string{"slipway:rdsBackupRetentionDays", `"7"`, "at least 14 in prod"}},
		{"rds class", "pr-1", with("slipway:rdsInstanceClass", "t4g.micro"), []string{"slipway:rdsInstanceClass", "db.t4g.micro"}},
		{"rds storage", "pr-1", with("slipway:rdsStorageSize", "10"), []string{"slipway:rdsStorageSize", "20 to 1024"}},
	}
	for _, c := range bad {
		_, err := Parse("slipway", c.stack, c.src)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", c.name, w, err)
			}
		}
	}
}

// A review stack runs on dev's compute and database unless its own stack
// file says otherwise; dev and prod never borrow anything.
func TestReviewStacksFollowDevsPlatform(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/Pulumi.yaml", "name: slipway\nruntime: go\nconfig:\n  compute:\n    type: string\n    default: host\n  database:\n    type: string\n    default: container\n")
	write(t, dir+"/Pulumi.dev.yaml", "config:\n  slipway:compute: ecs\n  slipway:database: rds\n")
	write(t, dir+"/Pulumi.pr-9.yaml", "config:\n  slipway:compute: host\n")

	for stack, want := range map[string][2]string{
		"pr-4": {"ecs", "rds"},        // no stack file: dev's choice
		"pr-9": {"host", "rds"},       // its own compute, dev's database
		"prod": {"host", "container"}, // prod never follows dev
	} {
		f, err := ReadFiles(dir, stack)
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]string{f.Values["slipway:compute"], f.Values["slipway:database"]}; got != want {
			t.Errorf("%s: compute/database %v, want %v", stack, got, want)
		}
		// The live path (the Pulumi context) reads the same.
		live := withDevProfile(dir, stack, Files{Values: map[string]string{"slipway:compute": "host", "slipway:database": "container"}})
		c, _ := live.Get("slipway:compute")
		d, _ := live.Get("slipway:database")
		if [2]string{c, d} != want {
			t.Errorf("%s live: compute/database %v, want %v", stack, [2]string{c, d}, want)
		}
	}
}
