package foundation

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// Project is the foundation's Pulumi project (foundation/Pulumi.yaml).
const Project = "slipway-foundation"

// Config is one foundation stack's config: one stack per AWS account.
// Like stacks.Config for the app stacks, it is read and validated in one
// place (Parse), and bad config fails before any resource is registered
// with a message naming the key, the value and what is accepted.
type Config struct {
	Stack string
	// Region is where the account's app stacks run (aws:region).
	Region string
	// AllowedAccountIDs pins the account (aws:allowedAccountIds).
	AllowedAccountIDs []string
	// Classes are the environment classes the account hosts.
	Classes []stacks.Profile
	// GitHubRepository ("owner/name") is the repository whose jobs the
	// CI roles trust.
	GitHubRepository string
	// Administrators are the IAM principals (role or user ARNs) that
	// administer the secrets keys and state buckets. The principal that
	// runs the foundation must be one of them: KMS refuses a key policy
	// that would lock its creator out.
	Administrators []string
	// Zones are the Route 53 zones of the classes that have a custom
	// domain, by class.
	Zones map[stacks.Profile]ZoneConfig
	// CIUser is the optional IAM user with an access key.
	CIUser CIUserConfig
}

// ZoneConfig is one class's DNS: the hosted zone its records live in and
// the domain below which its record names must lie.
type ZoneConfig struct {
	ZoneID string `json:"zoneId"`
	Domain string `json:"domain"`
}

// CIUserConfig shapes the optional IAM user for CI without OIDC. Off by
// default: OIDC roles need no stored key.
type CIUserConfig struct {
	// Class is the deploy class whose policies the user holds; empty
	// means no user.
	Class stacks.Profile
	// KeyGeneration numbers the access key: raising it creates a new
	// key and deactivates the previous one (ciuser.go).
	KeyGeneration int
}

// Hosts reports whether the account hosts a class.
func (c Config) Hosts(class stacks.Profile) bool { return slices.Contains(c.Classes, class) }

func key(name string) string { return Project + ":" + name }

// Load reads the foundation's config from the Pulumi context.
func Load(ctx *pulumi.Context) (Config, error) {
	return Parse(ctx.Stack(), contextSource{ctx})
}

type contextSource struct{ ctx *pulumi.Context }

func (s contextSource) Get(key string) (string, bool) { return s.ctx.GetConfig(key) }
func (s contextSource) IsSecret(key string) bool      { return s.ctx.IsConfigSecret(key) }

var (
	githubRepo = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)
	adminARN   = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$`)
	zoneIDRe   = regexp.MustCompile(`^Z[A-Z0-9]{8,32}$`)
	domainRe   = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// Parse builds the Config from src, reporting every invalid value.
func Parse(stack string, src stacks.Source) (Config, error) {
	var errs []error
	fail := func(k, v, accepted string) {
		errs = append(errs, fmt.Errorf("%s = %q is not accepted: expected %s", k, v, accepted))
	}
	get := func(k string) (string, bool) {
		v, ok := src.Get(k)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	cfg := Config{Stack: stack, Region: "us-east-1", Zones: map[stacks.Profile]ZoneConfig{}, CIUser: CIUserConfig{KeyGeneration: 1}}

	if v, ok := get("aws:region"); ok {
		cfg.Region = v
		if !slices.Contains(stacks.SupportedRegions(), v) {
			fail("aws:region", v, "one of "+strings.Join(stacks.SupportedRegions(), ", ")+" (the regions app stacks accept)")
		}
	}
	if v, ok := get("aws:allowedAccountIds"); !ok {
		errs = append(errs, fmt.Errorf("aws:allowedAccountIds is not set: expected %s", stacks.AccountIDsAccepted))
	} else if ids, bad := stacks.ParseAccountIDs(v); bad != "" {
		fail("aws:allowedAccountIds", v, bad)
	} else {
		cfg.AllowedAccountIDs = ids
	}

	const classesAccepted = `a list of the classes this account hosts, each once, from dev, review, prod ` +
		`(for example ["dev", "review"] or ["prod"]); review only together with dev`
	if v, ok := get(key("classes")); !ok {
		errs = append(errs, fmt.Errorf("%s is not set: expected %s", key("classes"), classesAccepted))
	} else {
		var names []string
		valid := json.Unmarshal([]byte(v), &names) == nil && len(names) > 0
		for _, n := range names {
			c := stacks.Profile(n)
			if !slices.Contains(Classes, c) || slices.Contains(cfg.Classes, c) {
				valid = false
				break
			}
			cfg.Classes = append(cfg.Classes, c)
		}
		// Review stacks take dev's allowed account ids (stacks), so
		// they live in dev's account.
		if valid && cfg.Hosts(stacks.Review) && !cfg.Hosts(stacks.Dev) {
			valid = false
		}
		if !valid {
			fail(key("classes"), v, classesAccepted)
			cfg.Classes = nil
		}
		// Build order, whatever the list's order.
		slices.SortFunc(cfg.Classes, func(a, b stacks.Profile) int {
			return slices.Index(Classes, a) - slices.Index(Classes, b)
		})
	}

	if v, ok := get(key("githubRepository")); !ok {
		errs = append(errs, fmt.Errorf("%s is not set: expected the GitHub repository as owner/name", key("githubRepository")))
	} else if !githubRepo.MatchString(v) {
		fail(key("githubRepository"), v, "a GitHub repository as owner/name")
	} else {
		cfg.GitHubRepository = v
	}

	const adminsAccepted = `a non-empty list of IAM role or user ARNs (for example ["arn:aws:iam::111111111111:role/Administrator"]), ` +
		`including the principal that runs the foundation`
	if v, ok := get(key("administrators")); !ok {
		errs = append(errs, fmt.Errorf("%s is not set: expected %s", key("administrators"), adminsAccepted))
	} else {
		var arns []string
		valid := json.Unmarshal([]byte(v), &arns) == nil && len(arns) > 0
		for _, a := range arns {
			valid = valid && adminARN.MatchString(a)
		}
		if !valid {
			fail(key("administrators"), v, adminsAccepted)
		} else {
			cfg.Administrators = arns
		}
	}

	const zonesAccepted = `an object by hosted class of {"zoneId": "Z...", "domain": "dev.example.com"} ` +
		`(the zone that holds the class's domain)`
	if v, ok := get(key("zones")); ok {
		var zones map[string]ZoneConfig
		valid := json.Unmarshal([]byte(v), &zones) == nil
		for c, z := range zones {
			if !cfg.Hosts(stacks.Profile(c)) || !zoneIDRe.MatchString(z.ZoneID) || !domainRe.MatchString(z.Domain) {
				valid = false
				break
			}
			cfg.Zones[stacks.Profile(c)] = z
		}
		if !valid {
			fail(key("zones"), v, zonesAccepted+" for classes this account hosts")
			cfg.Zones = map[stacks.Profile]ZoneConfig{}
		}
	}

	if v, ok := get(key("ciUser")); ok {
		c := stacks.Profile(v)
		if !cfg.Hosts(c) {
			fail(key("ciUser"), v, "empty (no IAM user, the default) or a class this account hosts: "+classList(cfg.Classes))
		} else {
			cfg.CIUser.Class = c
		}
	}
	if v, ok := get(key("ciUserKeyGeneration")); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail(key("ciUserKeyGeneration"), v, "a whole number of at least 1 (raise it by one to rotate the key)")
		} else {
			cfg.CIUser.KeyGeneration = n
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("foundation stack %s has invalid config:\n  %w", stack, errors.Join(errs...))
	}
	return cfg, nil
}

func classList(cs []stacks.Profile) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}
