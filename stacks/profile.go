package stacks

import (
	"fmt"
	"regexp"
	"strconv"
)

// Profile is the kind of environment a stack is. It decides what the stack
// protects, what it may destroy and which defaults it starts from; config
// only says what differs from the profile.
type Profile string

const (
	// Prod is the production stack: data is protected, retained on delete
	// and backed up; monitoring is detailed.
	Prod Profile = "prod"
	// Dev is the long-lived development stack.
	Dev Profile = "dev"
	// Review is an ephemeral per-pull-request stack (pr-<n>): nothing is
	// protected and `pulumi destroy` always removes everything.
	Review Profile = "review"
)

var reviewStackName = regexp.MustCompile(`^pr-([1-9][0-9]{0,8})$`)

// ProfileOf maps a stack name to its profile. Only "dev", "prod" and
// "pr-<n>" are valid: an unknown name is an error rather than a guess, so a
// typo can never turn into an unprotected copy of production.
func ProfileOf(stack string) (Profile, error) {
	switch {
	case stack == "prod":
		return Prod, nil
	case stack == "dev":
		return Dev, nil
	case reviewStackName.MatchString(stack):
		return Review, nil
	}
	return "", fmt.Errorf("stack name %q is not accepted: use dev, prod or pr-<number> (for example pr-42)", stack)
}

// ReviewStackName is the stack name for pull request pr.
func ReviewStackName(pr int) (string, error) {
	name := "pr-" + strconv.Itoa(pr)
	if !reviewStackName.MatchString(name) {
		return "", fmt.Errorf("pull request number %d is not accepted: use a positive integer", pr)
	}
	return name, nil
}

// IsReviewStack reports whether name is an ephemeral review stack (pr-<n>).
func IsReviewStack(name string) bool { return reviewStackName.MatchString(name) }

// Ephemeral reports whether stacks of this profile are meant to be torn down.
func (p Profile) Ephemeral() bool { return p == Review }

// ProtectsData reports whether state-bearing resources (the data volume,
// the bucket's objects) are protected from deletion and retained.
func (p Profile) ProtectsData() bool { return p == Prod }
