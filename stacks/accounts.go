package stacks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// AccountIDsAccepted says what aws:allowedAccountIds takes.
const AccountIDsAccepted = `a list of 12-digit AWS account ids, for example ["111111111111"]`

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// ParseAccountIDs reads aws:allowedAccountIds as the Pulumi CLI hands a
// list to a program (JSON). It returns the ids, or what would be accepted.
func ParseAccountIDs(raw string) ([]string, string) {
	var ids []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(raw)), &ids); err != nil || len(ids) == 0 {
		return nil, AccountIDsAccepted
	}
	for _, id := range ids {
		if !accountID.MatchString(id) {
			return nil, AccountIDsAccepted
		}
	}
	return ids, ""
}

// projectDirSource is a Source that knows the project directory, where a
// review stack finds dev's stack file.
type projectDirSource interface{ ProjectDir() string }

// ProjectDir implements projectDirSource.
func (f Files) ProjectDir() string { return f.Dir }

// ProjectDir implements projectDirSource.
func (s contextSource) ProjectDir() string {
	if d := s.ctx.RootDirectory(); d != "" {
		return d
	}
	return "."
}

// allowedAccounts reads aws:allowedAccountIds, the account pin every AWS
// provider of the stack gets (infra/providers.go). dev and prod set it in
// their stack file. A review stack runs in dev's account and takes the
// value of Pulumi.dev.yaml in the project directory: `slipway review up`
// copies nothing, and a review stack cannot be pointed at another account
// by its own file (a value it sets must equal dev's).
func (r *reader) allowedAccounts(stack string, profile Profile) []string {
	const k = "aws:allowedAccountIds"
	own, set := r.raw(k)
	var ids []string
	if set {
		var bad string
		if ids, bad = ParseAccountIDs(own); bad != "" {
			r.fail(k, own, bad)
			return nil
		}
	}
	if profile != Review {
		if !set {
			r.errs = append(r.errs, errorf("%s is not set: expected %s in Pulumi.%s.yaml (the account this stack may run in)", k, AccountIDsAccepted, stack))
		}
		return ids
	}
	dir := ""
	if s, ok := r.src.(projectDirSource); ok {
		dir = s.ProjectDir()
	}
	var devIDs []string
	if dir != "" {
		if dev, err := ReadFiles(dir, string(Dev)); err == nil && dev.HasStackFile {
			devIDs, _ = ParseAccountIDs(dev.Values[k])
		}
	}
	switch {
	case devIDs == nil && !set:
		r.errs = append(r.errs, errorf("%s is not set: review stack %s takes dev's value from Pulumi.dev.yaml, which has none (expected %s)", k, stack, AccountIDsAccepted))
	case devIDs == nil:
		return ids
	case set && !slices.Equal(ids, devIDs):
		r.fail(k, own, "nothing, or dev's value "+strings.Join(devIDs, ", ")+": review stacks run in dev's account")
	}
	return devIDs
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
