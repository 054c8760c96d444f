package review

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
)

// DestroyResult is what a `review destroy` did.
type DestroyResult struct {
	Stack   string
	Missing bool           // there was no such stack: nothing to do
	Changes map[string]int // resources by operation, from the engine's summary
}

// Destroy destroys every resource of pull request pr's review stack and
// removes the stack, its tags and its config. A stack that does not exist is
// success: the PR-closed workflow runs for every closed PR, labelled or not.
func (l *Lifecycle) Destroy(ctx context.Context, pr int) (DestroyResult, error) {
	name, err := reviewStackName(pr)
	if err != nil {
		return DestroyResult{}, err
	}
	ws, err := l.workspace(ctx)
	if err != nil {
		return DestroyResult{}, err
	}
	return l.destroyStack(ctx, ws, name)
}

// destroyStack is the one place a stack is destroyed; it re-checks the guard
// itself so no caller can bypass it.
func (l *Lifecycle) destroyStack(ctx context.Context, ws auto.Workspace, name string) (DestroyResult, error) {
	result := DestroyResult{Stack: name}
	if err := requireReviewStack(name); err != nil {
		return result, err
	}
	s, err := auto.SelectStack(ctx, name, ws)
	if auto.IsSelectStack404Error(err) {
		result.Missing = true
		return result, nil
	}
	if err != nil {
		return result, fmt.Errorf("select stack %s: %w", name, err)
	}
	// Remove deletes the stack (state, tags, Pulumi.<stack>.yaml) only when
	// the destroy succeeded, so a failed teardown leaves the stack to retry.
	res, err := s.Destroy(ctx,
		optdestroy.Remove(),
		optdestroy.ProgressStreams(l.stdout()),
		optdestroy.ErrorProgressStreams(l.stderr()),
	)
	if err != nil {
		return result, fmt.Errorf("pulumi destroy of stack %s: %w", name, err)
	}
	if res.Summary.ResourceChanges != nil {
		result.Changes = *res.Summary.ResourceChanges
	}
	return result, nil
}
