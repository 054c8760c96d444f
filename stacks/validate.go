package stacks

import (
	"fmt"
	"maps"
	"net"
	"net/mail"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

const defaultRegion = "us-east-1"

// supportedRegions are the regions Slipway's price table and AMI lookups
// are known to work in; others are refused rather than half-supported.
var supportedRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
	"ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ap-south-1",
	"ca-central-1", "sa-east-1",
}

// SupportedRegions are the regions aws:region accepts.
func SupportedRegions() []string { return slices.Clone(supportedRegions) }

var datadogSites = []string{"datadoghq.com", "us3.datadoghq.com", "us5.datadoghq.com", "datadoghq.eu", "ap1.datadoghq.com"}

// reader reads keys from a Source, applies defaults and collects one error
// per invalid value.
type reader struct {
	src  Source
	errs []error
}

// check validates a value; it returns "" when the value is accepted, or a
// description of what would be.
type check func(string) string

func (r *reader) fail(key, value, accepted string) {
	r.errs = append(r.errs, fmt.Errorf("%s = %q is not accepted: expected %s", key, value, accepted))
}

// raw returns a key's value, trimmed, and whether it was set to anything.
func (r *reader) raw(key string) (string, bool) {
	v, ok := r.src.Get(key)
	return strings.TrimSpace(v), ok && strings.TrimSpace(v) != ""
}

func (r *reader) str(key, def string, ok check) string {
	v, set := r.raw(key)
	if !set {
		v = def
	}
	if v == "" && !set {
		return v
	}
	if want := ok(v); want != "" {
		r.fail(key, v, want)
	}
	return v
}

func (r *reader) integer(key string, def int, ok func(int) string) int {
	v, set := r.raw(key)
	if !set {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(key, v, "a whole number")
		return def
	}
	if want := ok(n); want != "" {
		r.fail(key, v, want)
	}
	return n
}

func (r *reader) boolean(key string, def bool) bool {
	v, set := r.raw(key)
	if !set {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(key, v, "true or false")
		return def
	}
	return b
}

// secret reads a value that must have been stored with `pulumi config set
// --secret`. The value itself is never part of an error message.
func (r *reader) secret(key string, required bool) Secret {
	v, set := r.raw(key)
	name := strings.TrimPrefix(key, Namespace+":")
	switch {
	case !set && required:
		r.errs = append(r.errs, fmt.Errorf("%s is not set: expected a secret of at least 16 characters (pulumi config set --secret %s <value>)", key, name))
	case set && !r.src.IsSecret(key):
		r.errs = append(r.errs, fmt.Errorf("%s is stored in plain text: expected a secret (pulumi config rm %s && pulumi config set --secret %s <value>)", key, name, name))
	case set && len(v) < 16:
		r.errs = append(r.errs, fmt.Errorf("%s is a secret of %d characters: expected at least 16", key, len(v)))
	case set && !SecretValue.Match(v):
		// Refused here, not on the host: the fetcher would refuse it on
		// every rollout and boot, after `pulumi up` stored it.
		r.errs = append(r.errs, fmt.Errorf("%s contains a character a secret cannot hold: expected %s", key, SecretValue.Accepted))
	}
	return NewSecret(v)
}

// Charset is one set of characters a value may hold, defined once and
// checked by every consumer of such values: stacks (config), the host's
// env files (infra: host.env, app.env) and the release fetcher on the host,
// which carries a copy of Pattern that a test keeps identical and feeds
// the same good and bad values (infra/release_script_test.go).
type Charset struct {
	// Pattern is an anchored regular expression, the same in Go's RE2 and
	// Python's re.
	Pattern string
	// Accepted says what is accepted, for error messages.
	Accepted string
	re       *regexp.Regexp
}

func newCharset(pattern, accepted string) Charset {
	return Charset{Pattern: pattern, Accepted: accepted, re: regexp.MustCompile(pattern)}
}

// Match reports whether v is drawn from the set.
func (c Charset) Match(v string) bool { return c.re.MatchString(v) }

var (
	// SecretValue is what a secret may hold (dbPassword, datadogApiKey):
	// the fetcher writes it as KEY='value' into secrets/<service>.env,
	// which docker compose reads literally (no $ interpolation, no escapes
	// inside single quotes), and the release script reads back with sed to
	// set the database password (quotes doubled). So every printable ASCII
	// character but the single quote, which would end the value, carried
	// end to end: $ " \ ` ; & | ( ) < > # % spaces included. Control
	// characters (a newline would end the line) and non-ASCII are refused.
	SecretValue = newCharset(`^[\x20-\x26\x28-\x7e]+$`,
		"printable ASCII characters other than the single quote (letters, digits, space and !\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~; no ', no newline, tab or other control character, no non-ASCII)")
	// HeaderValue is what the origin secret may hold: it travels as an
	// HTTP header value and nginx compares it.
	HeaderValue = newCharset(`^[A-Za-z0-9_-]+$`, "A-Z, a-z, 0-9, '_' and '-'")
	// PlainValue is what an unquoted env file value may hold: host.env
	// (sourced by bash, read by systemd's EnvironmentFile) and the
	// release's app.env and .env (read by docker compose and, for
	// POSTGRES_USER, by the release script's sed). An allowlist of
	// characters none of those three interprets.
	PlainValue = newCharset(`^[A-Za-z0-9._/:@+,-]*$`, "letters, digits and . _ / : @ + , - only")
	// SQLIdentifier is what a database or role name may be: lower case,
	// so quoted and unquoted it is the same name, and within Postgres's
	// 63 bytes. sqlName adds the names Postgres reserves.
	SQLIdentifier = newCharset(`^[a-z_][a-z0-9_]{0,62}$`, "a lower-case Postgres identifier (letters, digits, underscore; at most 63)")
)

// headerSecret reads a secret that travels as an HTTP header value and is
// matched by nginx: only URL-safe characters, so no quoting can break it.
func (r *reader) headerSecret(key string) Secret {
	s := r.secret(key, true)
	if s.IsSet() && SecretValue.Match(s.value) && !HeaderValue.Match(s.value) {
		r.errs = append(r.errs, fmt.Errorf("%s contains characters other than %s: expected a URL-safe secret (for example: openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')", key, HeaderValue.Accepted))
	}
	return s
}

func oneOf(values ...string) check {
	return func(v string) string {
		if slices.Contains(values, v) {
			return ""
		}
		return "one of " + strings.Join(values, ", ")
	}
}

func optional(c check) check {
	return func(v string) string {
		if v == "" {
			return ""
		}
		return c(v)
	}
}

func between(lo, hi int) func(int) string {
	return func(n int) string {
		if n < lo || n > hi {
			return fmt.Sprintf("a whole number from %d to %d", lo, hi)
		}
		return ""
	}
}

// privateCIDR accepts an RFC 1918 IPv4 block from /16 to /24: big enough for
// two /26 subnets, small enough to peer with other networks later.
func privateCIDR(v string) string {
	const want = "a private IPv4 CIDR block from /16 to /24 (for example 10.40.0.0/16)"
	ip, block, err := net.ParseCIDR(v)
	if err != nil || ip.To4() == nil || !ip.Equal(block.IP) {
		return want
	}
	ones, _ := block.Mask.Size()
	if ones < 16 || ones > 24 || !block.IP.IsPrivate() {
		return want
	}
	return ""
}

// instanceFamilies maps the EC2 families Slipway accepts to their
// architecture. Sizes below small cannot hold Postgres, the API, the worker
// and nginx together.
var instanceFamilies = map[string]string{
	"t4g": "arm64", "m6g": "arm64", "m7g": "arm64", "m8g": "arm64",
	"c6g": "arm64", "c7g": "arm64", "c8g": "arm64", "r6g": "arm64", "r7g": "arm64", "r8g": "arm64",
	"t3": "x86_64", "t3a": "x86_64", "m6i": "x86_64", "m7i": "x86_64", "m6a": "x86_64", "m7a": "x86_64",
	"c6i": "x86_64", "c7i": "x86_64", "c7a": "x86_64", "r6i": "x86_64", "r7i": "x86_64",
}

var instanceSizes = []string{"small", "medium", "large", "xlarge", "2xlarge", "4xlarge"}

func instanceType(v string) string {
	family, size, _ := strings.Cut(v, ".")
	if _, ok := instanceFamilies[family]; !ok || !slices.Contains(instanceSizes, size) {
		families := slices.Sorted(maps.Keys(instanceFamilies))
		return fmt.Sprintf("<family>.<size> with family one of %s and size one of %s",
			strings.Join(families, ", "), strings.Join(instanceSizes, ", "))
	}
	return ""
}

// architectureOf returns the CPU architecture of an accepted instance type.
func architectureOf(instanceType string) string {
	family, _, _ := strings.Cut(instanceType, ".")
	return instanceFamilies[family]
}

// logRetention accepts the values CloudWatch Logs accepts, up to ten years;
// "never expire" is not offered, so logs can never grow a bill unnoticed.
func logRetention(n int) string {
	allowed := []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
	if slices.Contains(allowed, n) {
		return ""
	}
	return "one of the CloudWatch retention periods in days: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"
}

var domainLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// domainName accepts a lower-case DNS name of at least two labels with an
// alphabetic top-level label, without scheme, port, path or trailing dot.
func domainName(v string) string {
	const want = "a domain name such as example.com (lower case, no scheme, path or trailing dot)"
	labels := strings.Split(v, ".")
	if len(v) > 253 || len(labels) < 2 {
		return want
	}
	for _, l := range labels {
		if !domainLabel.MatchString(l) {
			return want
		}
	}
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return want
	}
	return ""
}

var zoneID = regexp.MustCompile(`^Z[A-Z0-9]{8,32}$`)

func hostedZone(v string) string {
	if zoneID.MatchString(v) || domainName(v) == "" {
		return ""
	}
	return "a Route 53 hosted zone id (Z...) or a zone name such as example.com"
}

func email(v string) string {
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || !strings.Contains(v, "@") || domainName(v[strings.LastIndex(v, "@")+1:]) != "" {
		return "an email address such as ops@example.com"
	}
	return ""
}

// reservedSQLNames are names a database or role of the application must
// not take: the names the official image and every cluster already use
// (postgres, template0/1), the pseudo-roles (public, none) and schema names
// that would shadow the catalog, and Postgres's reserved key words
// (including those allowed only as function or type names), which break
// any script that uses the name unquoted. pg_* is refused separately:
// Postgres reserves it for role names.
var reservedSQLNames = []string{
	"postgres", "public", "none", "template0", "template1", "information_schema",
	// Reserved key words (PostgreSQL, Appendix C).
	"all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case", "cast",
	"check", "collate", "column", "constraint", "create", "current_catalog", "current_date", "current_role",
	"current_time", "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do",
	"else", "end", "except", "false", "fetch", "for", "foreign", "from", "grant", "group", "having", "in",
	"initially", "intersect", "into", "lateral", "leading", "limit", "localtime", "localtimestamp", "not",
	"null", "offset", "on", "only", "or", "order", "placing", "primary", "references", "returning", "select",
	"session_user", "some", "symmetric", "system_user", "table", "then", "to", "trailing", "true", "union",
	"unique", "user", "using", "variadic", "when", "where", "window", "with",
	// Reserved, but allowed as function or type names.
	"authorization", "binary", "collation", "concurrently", "cross", "current_schema", "freeze", "full",
	"ilike", "inner", "is", "isnull", "join", "left", "like", "natural", "notnull", "outer", "overlaps",
	"right", "similar", "tablesample", "verbose",
}

// sqlName accepts a database or role name of the application.
func sqlName(v string) string {
	if SQLIdentifier.Match(v) && !strings.HasPrefix(v, "pg_") && !slices.Contains(reservedSQLNames, v) {
		return ""
	}
	return SQLIdentifier.Accepted + ", not reserved by Postgres (no pg_ prefix, not postgres, public, none, template0, template1, information_schema or an SQL key word such as user or select)"
}

// relativePath accepts a path inside the project directory.
func relativePath(v string) string {
	clean := filepath.Clean(v)
	if filepath.IsAbs(v) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "a path relative to the project directory, inside it"
	}
	return ""
}

var amiPattern = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)

func amiID(v string) string {
	if amiPattern.MatchString(v) {
		return ""
	}
	return "an AMI id such as ami-0123456789abcdef0 (see the latestAmi stack output)"
}
