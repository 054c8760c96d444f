package stacks

import (
	"slices"
	"strings"
	"testing"
)

func TestAllowedAccountIDs(t *testing.T) {
	for _, bad := range []string{`111111111111`, `[]`, `["11111111111"]`, `["1111111111111"]`, `["abcdefabcdef"]`, `[111111111111]`} {
		_, err := Parse("slipway", "dev", with("aws:allowedAccountIds", bad))
		if err == nil || !strings.Contains(err.Error(), "aws:allowedAccountIds") || !strings.Contains(err.Error(), "12-digit") {
			t.Errorf("%s accepted or unclear: %v", bad, err)
		}
	}
	missing := valid()
	delete(missing.Values, "aws:allowedAccountIds")
	for _, stack := range []string{"dev", "prod"} {
		if _, err := Parse("slipway", stack, missing); err == nil || !strings.Contains(err.Error(), "aws:allowedAccountIds is not set") ||
			!strings.Contains(err.Error(), "Pulumi."+stack+".yaml") {
			t.Errorf("%s without an account pin: %v", stack, err)
		}
	}
	if _, err := Parse("slipway", "pr-3", missing); err == nil || !strings.Contains(err.Error(), "review stack pr-3 takes dev's value") {
		t.Errorf("review stack without dev's file: %v", err)
	}
}

// The real stack files pin dev and prod to different placeholder
// accounts, and a review stack takes dev's from Pulumi.dev.yaml.
func TestStackFilesPinTheirAccounts(t *testing.T) {
	want := map[string][]string{"dev": {"111111111111"}, "prod": {"222222222222"}, "pr-7": {"111111111111"}}
	for stack, ids := range want {
		f, err := ReadFiles("..", stack)
		if err != nil {
			t.Fatal(err)
		}
		f.SetSecret("slipway:dbPassword", "correct-horse-battery-staple")
		f.SetSecret("slipway:originSecret", "0123456789abcdef0123")
		cfg, err := Parse("slipway", stack, f)
		if err != nil {
			t.Fatalf("%s: %v", stack, err)
		}
		if !slices.Equal(cfg.AllowedAccountIDs, ids) {
			t.Errorf("%s: allowed accounts %v, want %v", stack, cfg.AllowedAccountIDs, ids)
		}
		if stack == "pr-7" {
			f.Values["aws:allowedAccountIds"] = `["222222222222"]`
			if _, err := Parse("slipway", stack, f); err == nil || !strings.Contains(err.Error(), "dev's value 111111111111") {
				t.Errorf("a review stack pointed at prod's account: %v", err)
			}
		}
	}
}
