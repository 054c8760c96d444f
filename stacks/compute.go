package stacks

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Compute says what runs the API and the worker.
const (
	// ComputeHost is the single EC2 host with the compose stack (default).
	ComputeHost = "host"
	// ComputeECS is ECS on Fargate behind an Application Load Balancer.
	ComputeECS = "ecs"
)

// Database says where Postgres lives.
const (
	// DatabaseContainer is Postgres in a container on the host's data
	// volume (default).
	DatabaseContainer = "container"
	// DatabaseRDS is RDS for PostgreSQL.
	DatabaseRDS = "rds"
)

// PlatformConfig is the "past one host" profile: what runs the workload
// (compute), where its database lives, and the sizes of the ECS services
// and the RDS instance. The sizes are read whatever the profile, so a typo
// fails before anyone switches; they only shape resources in ecs or rds
// mode.
type PlatformConfig struct {
	Compute  string // ComputeHost or ComputeECS
	Database string // DatabaseContainer or DatabaseRDS

	API    ServiceSize
	Worker ServiceSize
	RDS    RDSConfig
}

// ServiceSize is one ECS service's task size and its autoscaling range.
type ServiceSize struct {
	CPU      int // Fargate CPU units (256 = 0.25 vCPU)
	MemoryMB int
	MinTasks int
	MaxTasks int
}

// RDSConfig sizes the RDS instance; what it protects follows the profile.
type RDSConfig struct {
	InstanceClass       string
	StorageGiB          int
	BackupRetentionDays int
}

// OnECS reports whether the API and the worker run on ECS.
func (p PlatformConfig) OnECS() bool { return p.Compute == ComputeECS }

// OnRDS reports whether Postgres is RDS.
func (p PlatformConfig) OnRDS() bool { return p.Database == DatabaseRDS }

// profileKeys are the keys a review stack takes from Pulumi.dev.yaml when
// its own stack file does not set them: a review stack previews the
// pull request on the shape dev runs, so an ECS dev gets ECS review stacks
// without anyone remembering to say so per pull request.
var profileKeys = []string{"compute", "database"}

// readProfile reads the profile keys. Defaults are mirrored in Pulumi.yaml.
func readProfile(r *reader) PlatformConfig {
	return PlatformConfig{
		Compute:  r.str(key("compute"), ComputeHost, oneOf(ComputeHost, ComputeECS)),
		Database: r.str(key("database"), DatabaseContainer, oneOf(DatabaseContainer, DatabaseRDS)),
		API: ServiceSize{
			CPU:      r.integer(key("apiCpu"), 256, fargateCPU),
			MemoryMB: r.integer(key("apiMemory"), 512, between(512, 30720)),
			MinTasks: r.integer(key("apiMinTasks"), 1, between(1, 50)),
			MaxTasks: r.integer(key("apiMaxTasks"), 4, between(1, 50)),
		},
		Worker: ServiceSize{
			CPU:      r.integer(key("workerCpu"), 256, fargateCPU),
			MemoryMB: r.integer(key("workerMemory"), 512, between(512, 30720)),
			MinTasks: r.integer(key("workerMinTasks"), 0, between(0, 50)),
			MaxTasks: r.integer(key("workerMaxTasks"), 2, between(1, 50)),
		},
		RDS: RDSConfig{
			InstanceClass:       r.str(key("rdsInstanceClass"), "db.t4g.micro", rdsInstanceClass),
			StorageGiB:          r.integer(key("rdsStorageSize"), 20, between(20, 1024)),
			BackupRetentionDays: r.integer(key("rdsBackupRetentionDays"), 14, between(1, 35)),
		},
	}
}

// checkProfile validates the rules that span the profile's keys.
func (c *Config) checkProfile(r *reader) {
	p := c.Platform
	if p.OnECS() && !p.OnRDS() {
		// Fargate tasks have no persistent disk for a Postgres container.
		r.fail(key("database"), p.Database, "rds when slipway:compute is ecs (tasks keep no data; host with rds is valid)")
	}
	for _, s := range []struct {
		name string
		size ServiceSize
	}{{"api", p.API}, {"worker", p.Worker}} {
		if want := fargateMemory(s.size.CPU, s.size.MemoryMB); want != "" {
			r.fail(key(s.name+"Memory"), strconv.Itoa(s.size.MemoryMB), want)
		}
		if s.size.MaxTasks < s.size.MinTasks {
			r.fail(key(s.name+"MaxTasks"), strconv.Itoa(s.size.MaxTasks), fmt.Sprintf("at least slipway:%sMinTasks (%d)", s.name, s.size.MinTasks))
		}
	}
	if c.Profile == Prod && p.OnECS() {
		// Two API tasks in two zones survive the loss of one; a worker
		// that scales to zero in prod would add a cold start to every
		// first job after a quiet spell.
		if p.API.MinTasks < 2 {
			r.fail(key("apiMinTasks"), strconv.Itoa(p.API.MinTasks), "at least 2 in prod: one task per zone")
		}
		if p.Worker.MinTasks < 1 {
			r.fail(key("workerMinTasks"), strconv.Itoa(p.Worker.MinTasks), "at least 1 in prod (dev and review may scale the worker to zero)")
		}
	}
	if c.Profile == Prod && p.OnRDS() && p.RDS.BackupRetentionDays < 14 {
		r.fail(key("rdsBackupRetentionDays"), strconv.Itoa(p.RDS.BackupRetentionDays), "at least 14 in prod: two weeks of point-in-time recovery")
	}
}

// fargateCPU accepts the CPU sizes Fargate offers.
func fargateCPU(n int) string {
	if !slices.Contains([]int{256, 512, 1024, 2048, 4096}, n) {
		return "a Fargate CPU size: 256, 512, 1024, 2048 or 4096"
	}
	return ""
}

// fargateMemory says which memory sizes go with a CPU size (AWS: "Task CPU
// and memory" in the Fargate docs), "" when the pair is valid.
func fargateMemory(cpu, mem int) string {
	type span struct{ lo, hi, step int }
	spans := map[int]span{256: {512, 2048, 512}, 512: {1024, 4096, 1024}, 1024: {2048, 8192, 1024},
		2048: {4096, 16384, 1024}, 4096: {8192, 30720, 1024}}
	s, ok := spans[cpu]
	if !ok {
		return "" // the CPU key already failed
	}
	if cpu == 256 && (mem == 512 || mem == 1024 || mem == 2048) {
		return ""
	}
	if cpu != 256 && mem >= s.lo && mem <= s.hi && mem%s.step == 0 {
		return ""
	}
	if cpu == 256 {
		return "512, 1024 or 2048 with 256 CPU units"
	}
	return fmt.Sprintf("%d to %d in steps of %d with %d CPU units", s.lo, s.hi, s.step, cpu)
}

var rdsClassPattern = regexp.MustCompile(`^db\.[a-z0-9]+\.[a-z0-9]+$`)

// rdsInstanceClass accepts Graviton classes only: the images are built
// for arm64 anyway, and t4g/m7g/r7g are the cheaper ones.
func rdsInstanceClass(v string) string {
	if !rdsClassPattern.MatchString(v) {
		return "an RDS instance class such as db.t4g.micro"
	}
	return ""
}

// followDev gives a review stack dev's compute and database when its own
// stack file sets neither: values holds the stack's config as read so far
// (project defaults, then its own file) and own the keys its file sets.
// A missing or unreadable Pulumi.dev.yaml leaves the project defaults.
func followDev(dir, stack string, values map[string]string, own func(string) bool) {
	if !IsReviewStack(stack) {
		return
	}
	var dev stackFile
	if err := readYAML(filepath.Join(dir, "Pulumi.dev.yaml"), &dev); err != nil {
		return
	}
	for _, name := range profileKeys {
		k := key(name)
		if own(k) {
			continue
		}
		for _, written := range []string{k, name} {
			if node, ok := dev.Config[written]; ok && node.Kind == yaml.ScalarNode {
				values[k] = node.Value
			}
		}
	}
}

// stackFileSets reports which keys a stack's own file sets.
func stackFileSets(dir, stack string) func(string) bool {
	var st stackFile
	// A missing file sets nothing (st stays empty).
	_ = readYAML(filepath.Join(dir, "Pulumi."+stack+".yaml"), &st)
	return func(k string) bool {
		_, qualified := st.Config[k]
		_, bare := st.Config[strings.TrimPrefix(k, Namespace+":")]
		return qualified || bare
	}
}

// devSource overlays the keys followDev takes from dev on a Source.
type devSource struct {
	Source
	values map[string]string
}

func (s devSource) Get(k string) (string, bool) {
	if v, ok := s.values[k]; ok {
		return v, true
	}
	return s.Source.Get(k)
}

// withDevProfile wraps a live Source (the Pulumi context) so a review
// stack reads dev's profile keys, as ReadFiles does for the offline path.
func withDevProfile(dir, stack string, src Source) Source {
	values := map[string]string{}
	followDev(dir, stack, values, stackFileSets(dir, stack))
	if len(values) == 0 {
		return src
	}
	return devSource{Source: src, values: values}
}
