package stacks

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// valid is a minimal accepted review-stack config: only the two required
// secrets, set as secrets.
func valid() Files {
	f := Files{Values: map[string]string{"aws:allowedAccountIds": `["111111111111"]`}}
	f.SetSecret("slipway:dbPassword", "correct-horse-battery-staple")
	f.SetSecret("slipway:originSecret", "0123456789abcdef0123")
	return f
}

func with(kv ...string) Files {
	f := valid()
	for i := 0; i < len(kv); i += 2 {
		f.Values[kv[i]] = kv[i+1]
	}
	return f
}

func TestParseRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name  string
		stack string
		src   Files
		// every fragment must appear in the one error message
		want []string
	}{
		{"bad cidr", "pr-1", with("slipway:vpcCidr", "10.0.0.0/33"), []string{"slipway:vpcCidr", `"10.0.0.0/33"`, "private IPv4 CIDR"}},
		{"public cidr", "pr-1", with("slipway:vpcCidr", "8.8.0.0/16"), []string{"slipway:vpcCidr", "8.8.0.0/16"}},
		{"cidr with host bits", "pr-1", with("slipway:vpcCidr", "10.40.0.1/16"), []string{"slipway:vpcCidr"}},
		{"cidr too small", "pr-1", with("slipway:vpcCidr", "10.40.0.0/28"), []string{"/16 to /24"}},
		{"unknown instance family", "pr-1", with("slipway:instanceType", "x9z.large"), []string{"slipway:instanceType", "x9z.large", "t4g"}},
		{"instance too small", "pr-1", with("slipway:instanceType", "t4g.nano"), []string{"slipway:instanceType", "t4g.nano", "small"}},
		{"architecture mismatch", "pr-1", with("slipway:instanceType", "t3.small"), []string{"slipway:architecture", `"arm64"`, "x86_64 to match instanceType t3.small"}},
		{"unknown architecture", "pr-1", with("slipway:architecture", "sparc"), []string{"slipway:architecture", "sparc", "arm64, x86_64"}},
		{"domain with scheme", "pr-1", with("slipway:domain", "https://example.com"), []string{"slipway:domain", "https://example.com", "domain name"}},
		{"domain single label", "pr-1", with("slipway:domain", "localhost"), []string{"slipway:domain"}},
		{"domain upper case", "pr-1", with("slipway:domain", "Example.com"), []string{"slipway:domain"}},
		{"domain numeric tld", "pr-1", with("slipway:domain", "10.0.0.1"), []string{"slipway:domain"}},
		{"data volume below floor", "pr-1", with("slipway:dataVolumeSize", "5"), []string{"slipway:dataVolumeSize", `"5"`, "10 to 1024"}},
		{"root volume not a number", "pr-1", with("slipway:rootVolumeSize", "big"), []string{"slipway:rootVolumeSize", "whole number"}},
		{"negative log retention", "pr-1", with("slipway:logRetentionDays", "-1"), []string{"slipway:logRetentionDays", `"-1"`, "retention periods"}},
		{"odd log retention", "pr-1", with("slipway:logRetentionDays", "10"), []string{"slipway:logRetentionDays"}},
		{"negative snapshot retention", "prod", with("slipway:dataSnapshotRetentionDays", "-3"), []string{"slipway:dataSnapshotRetentionDays", "1 to 365"}},
		{"prod keeps too few snapshots", "prod", with("slipway:dataSnapshotRetentionDays", "3"), []string{"slipway:dataSnapshotRetentionDays", `"3"`, "at least 7 in prod"}},
		{"queue retention too long", "pr-1", with("slipway:queueRetentionDays", "15"), []string{"slipway:queueRetentionDays", "1 to 14"}},
		{"bad boolean", "pr-1", with("slipway:caaRecord", "yes please"), []string{"slipway:caaRecord", "true or false"}},
		{"bad email", "prod", with("slipway:alarmEmail", "ops at example"), []string{"slipway:alarmEmail", "email address"}},
		{"bad price class", "pr-1", with("slipway:priceClass", "cheap"), []string{"slipway:priceClass", "PriceClass_100"}},
		{"unsupported region", "pr-1", with("aws:region", "mars-north-1"), []string{"aws:region", "mars-north-1", "us-east-1"}},
		{"build dir outside project", "pr-1", with("slipway:spaBuildDir", "../elsewhere"), []string{"slipway:spaBuildDir", "inside"}},
		{"hosted zone without domain", "dev", with("slipway:hostedZone", "example.com"), []string{"slipway:hostedZone", "slipway:domain"}},
		{"oidc in review stack", "pr-3", with("slipway:githubRepository", "acme/shop"), []string{"slipway:githubRepository", "review stack"}},
		{"bad github repository", "dev", with("slipway:githubRepository", "not a repo"), []string{"slipway:githubRepository", "owner/name"}},
		{"bad db identifier", "dev", with("slipway:dbUser", "Robert'); DROP"), []string{"slipway:dbUser", "Postgres identifier"}},
		{"bad ami", "dev", with("slipway:hostAmi", "ubuntu-latest"), []string{"slipway:hostAmi", "ami-"}},
		// Postgres reserves pg_* role names; the image's superuser, the templates, the pseudo-roles
		// and SQL key words are refused too.
		{"db user pg_", "dev", with("slipway:dbUser", "pg_app"), []string{"slipway:dbUser", `"pg_app"`, "no pg_ prefix"}},
		{"db user postgres", "dev", with("slipway:dbUser", "postgres"), []string{"slipway:dbUser", `"postgres"`, "not reserved"}},
		{"db user public", "dev", with("slipway:dbUser", "public"), []string{"slipway:dbUser", `"public"`}},
		{"db user none", "dev", with("slipway:dbUser", "none"), []string{"slipway:dbUser", `"none"`}},
		{"db user key word", "dev", with("slipway:dbUser", "user"), []string{"slipway:dbUser", `"user"`, "SQL key word"}},
		{"db name template1", "dev", with("slipway:dbName", "template1"), []string{"slipway:dbName", `"template1"`}},
		{"db name template0", "dev", with("slipway:dbName", "template0"), []string{"slipway:dbName", `"template0"`}},
		{"db name key word", "dev", with("slipway:dbName", "select"), []string{"slipway:dbName", `"select"`}},
		{"db name pg_", "dev", with("slipway:dbName", "pg_catalog"), []string{"slipway:dbName"}},
		{"db name upper case", "dev", with("slipway:dbName", "App"), []string{"slipway:dbName", "lower-case"}},
		{"unknown stack name", "staging", valid(), []string{`"staging"`, "dev, prod or pr-<number>"}},
		{"review stack zero", "pr-0", valid(), []string{`"pr-0"`}},
		{"domain outside its zone", "dev", with("slipway:domain", "shop.example.org", "slipway:hostedZone", "example.com"), []string{"slipway:hostedZone", "example.com", "contains slipway:domain shop.example.org"}},
		{"created zone given by id", "dev", with("slipway:domain", "example.com", "slipway:hostedZone", "Z0123456789ABCDEFGHIJ", "slipway:createHostedZone", "true"), []string{"slipway:hostedZone", "Z0123456789ABCDEFGHIJ", "zone name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("slipway", tc.stack, tc.src)
			if err == nil {
				t.Fatalf("Parse accepted the config; want an error mentioning %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSecretsMustBeSecretAndNeverEchoed(t *testing.T) {
	plain := valid()
	plain.Values["slipway:dbPassword"] = "hunter2-hunter2-hunter2"
	plain.Secrets = []string{"slipway:originSecret"}
	_, err := Parse("slipway", "dev", plain)
	if err == nil || !strings.Contains(err.Error(), "slipway:dbPassword is stored in plain text") {
		t.Fatalf("want plain-text secret refused, got %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error echoes the secret: %v", err)
	}

	missing := valid()
	delete(missing.Values, "slipway:originSecret")
	if _, err := Parse("slipway", "dev", missing); err == nil || !strings.Contains(err.Error(), "slipway:originSecret is not set") {
		t.Fatalf("want missing secret refused, got %v", err)
	}

	quoted := valid()
	quoted.SetSecret("slipway:originSecret", `abc"def ghi;jkl/mno`)
	if _, err := Parse("slipway", "dev", quoted); err == nil || !strings.Contains(err.Error(), "URL-safe") || strings.Contains(err.Error(), "ghi;jkl") {
		t.Fatalf("want an unsafe origin secret refused without echoing it, got %v", err)
	}

	short := valid()
	short.SetSecret("slipway:datadogApiKey", "abc")
	if _, err := Parse("slipway", "dev", short); err == nil || !strings.Contains(err.Error(), "slipway:datadogApiKey") {
		t.Fatalf("want short secret refused, got %v", err)
	}
}

func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Parse("slipway", "pr-9", with("slipway:vpcCidr", "nope", "slipway:dataVolumeSize", "1"))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, w := range []string{"slipway:vpcCidr", "slipway:dataVolumeSize"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q misses %s", err, w)
		}
	}
}

// The defaults in Go and in Pulumi.yaml must be the same, or a stack run by
// the CLI and one run by the offline plan would differ.
func TestPulumiYAMLDefaultsMatchGoDefaults(t *testing.T) {
	files, err := ReadFiles("..", "pr-42")
	if err != nil {
		t.Fatal(err)
	}
	if files.HasStackFile {
		t.Fatal("pr-42 must run without a stack file")
	}
	files.SetSecret("slipway:dbPassword", "correct-horse-battery-staple")
	files.SetSecret("slipway:originSecret", "0123456789abcdef0123")
	fromYAML, err := Parse("slipway", "pr-42", files)
	if err != nil {
		t.Fatal(err)
	}
	fromGo, err := Parse("slipway", "pr-42", valid())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromYAML, fromGo) {
		t.Fatalf("Pulumi.yaml defaults differ from Go defaults:\nyaml: %+v\ngo:   %+v", fromYAML, fromGo)
	}
	// and every key Parse reads is declared in Pulumi.yaml, so `pulumi
	// config` documents it
	for _, k := range []string{"vpcCidr", "instanceType", "architecture", "rootVolumeSize", "dataVolumeSize",
		"logRetentionDays", "spaBuildDir", "priceClass", "domain", "queueMaxReceiveCount", "workerTimeoutSeconds"} {
		if _, ok := files.Values["slipway:"+k]; !ok {
			t.Errorf("Pulumi.yaml does not declare %s", k)
		}
	}
}

func TestStackFilesOverrideOnlyWhatDiffers(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		f, err := ReadFiles("..", stack)
		if err != nil {
			t.Fatal(err)
		}
		if !f.HasStackFile {
			t.Fatalf("%s has no stack file", stack)
		}
		f.SetSecret("slipway:dbPassword", "correct-horse-battery-staple")
		f.SetSecret("slipway:originSecret", "0123456789abcdef0123")
		cfg, err := Parse("slipway", stack, f)
		if err != nil {
			t.Fatalf("%s: %v", stack, err)
		}
		if stack == "prod" && (cfg.Profile != Prod || cfg.Host.InstanceType != "t4g.medium" || cfg.Logs.RetentionDays != 90) {
			t.Errorf("prod overrides not applied: %+v", cfg)
		}
		if stack == "dev" && (cfg.Profile != Dev || cfg.Host.InstanceType != "t4g.small" || cfg.DNS.HostedZone != "slipway.example.com") {
			t.Errorf("dev overrides not applied: %+v", cfg)
		}
	}
}

func TestEncryptedValuesBecomeSecretPlaceholders(t *testing.T) {
	dir := t.TempDir()
	write(t, dir+"/Pulumi.yaml", "name: slipway\nruntime: go\nconfig:\n  instanceType:\n    type: string\n    default: t4g.small\n")
	write(t, dir+"/Pulumi.dev.yaml", "config:\n  slipway:dbPassword:\n    secure: AAABAGx0aGlzaXNjaXBoZXJ0ZXh0\n")
	f, err := ReadFiles(dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if f.Values["slipway:dbPassword"] != OfflineSecret || !f.IsSecret("slipway:dbPassword") {
		t.Fatalf("secure value not replaced by a secret placeholder: %+v", f)
	}
	if f.Values["slipway:instanceType"] != "t4g.small" {
		t.Fatalf("project default not read: %+v", f.Values)
	}
}

func TestProfileOf(t *testing.T) {
	for name, want := range map[string]Profile{"prod": Prod, "dev": Dev, "pr-7": Review, "pr-123456": Review} {
		if got, err := ProfileOf(name); err != nil || got != want {
			t.Errorf("ProfileOf(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	for _, name := range []string{"production", "pr-", "pr-01", "pr-x", "PR-1", "dev2"} {
		if _, err := ProfileOf(name); err == nil {
			t.Errorf("ProfileOf(%q) accepted", name)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret("top-secret-value-123")
	if strings.Contains(s.String(), "top-secret") {
		t.Fatal("Secret.String leaks the value")
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDNSZoneIsAnIdOrAName(t *testing.T) {
	cases := []struct {
		dns      DNSConfig
		id, name string
	}{
		{DNSConfig{Domain: "slipway.example.com"}, "", "slipway.example.com"},
		{DNSConfig{Domain: "dev.slipway.example.com", HostedZone: "slipway.example.com"}, "", "slipway.example.com"},
		{DNSConfig{Domain: "slipway.example.com", HostedZone: "Z0123456789ABCDEFGHIJ"}, "Z0123456789ABCDEFGHIJ", ""},
	}
	for _, c := range cases {
		if id, name := c.dns.Zone(); id != c.id || name != c.name {
			t.Errorf("%+v: Zone() = %q, %q; want %q, %q", c.dns, id, name, c.id, c.name)
		}
	}
}

// Secrets reach the host through SSM, the fetcher and env files: what those
// cannot carry is refused here, naming the key and what is accepted, never
// the value; what they can (shell and SQL metacharacters included) is
// accepted. infra's TestCharsetsMatchTheHost feeds the same values through
// the real fetcher and the env-file parser.
func TestSecretsTheHostCannotCarryAreRefused(t *testing.T) {
	for _, key := range []string{"slipway:dbPassword", "slipway:datadogApiKey"} {
		for _, bad := range []string{"it's-a-long-secret-value", "line-one-secret\nline-two", "carriage-return\rsecret-x",
			"tab\tseparated-secret-val", "n\u00fcn-ascii-secret-value", "nul-\x00-in-a-secret-value"} {
			f := valid()
			f.SetSecret(key, bad)
			_, err := Parse("slipway", "dev", f)
			if err == nil {
				t.Errorf("%s = %q accepted", key, bad)
				continue
			}
			if !strings.Contains(err.Error(), key+" contains a character a secret cannot hold") || !strings.Contains(err.Error(), "other than the single quote") {
				t.Errorf("%s: message does not name the key and what is accepted: %v", key, err)
			}
			if strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), "secret-val") {
				t.Errorf("%s: the message echoes the secret: %v", key, err)
			}
		}
		for _, good := range []string{`pa$$word"; rm -rf / & echo | (x) <y> \ ` + "`id`", `$(whoami)-${HOME}-#not-a-comment`, "spaces inside are fine 100%"} {
			f := valid()
			f.SetSecret(key, good)
			if _, err := Parse("slipway", "dev", f); err != nil {
				t.Errorf("%s = %q refused: %v", key, good, err)
			}
		}
	}
}

func TestCharsetsAreAnchored(t *testing.T) {
	for _, c := range []Charset{SecretValue, HeaderValue, PlainValue, SQLIdentifier} {
		if !strings.HasPrefix(c.Pattern, "^") || !strings.HasSuffix(c.Pattern, "$") || c.Accepted == "" {
			t.Errorf("charset %q is not anchored or says nothing of what it accepts", c.Pattern)
		}
	}
	for v, want := range map[string]bool{"dev": true, "/slipway/dev/": true, "123.dkr.ecr.us-east-1.amazonaws.com": true,
		"a b": false, "a;b": false, "$(x)": false, "a\nb": false, "~root": false, "a'b": false, `a"b`: false, "a&b": false, "a|b": false, "a<b": false, "(a)": false} {
		if PlainValue.Match(v) != want {
			t.Errorf("PlainValue.Match(%q) = %v", v, !want)
		}
	}
}
