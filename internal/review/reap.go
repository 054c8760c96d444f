package review

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// ReapReport says what a reap did with every stack of the project.
type ReapReport struct {
	Destroyed []Decision // expired review stacks, destroyed and removed
	Kept      []Decision // not review stacks, or not yet expired
	Skipped   []Decision // locked by a running update, or of unknown age
	Failed    []Decision // destroy failed; the error is in Reap's error too
}

// Decision is one stack and why it went where it went.
type Decision struct {
	Stack  string
	Reason string
}

// Reap destroys and removes every review stack whose time to live has
// passed. A stack's deadline is its created-at tag plus its ttl tag; without
// a created-at tag its last update counts instead, and without a ttl tag
// defaultTTL applies. Stacks other than pr-<n> are never touched; a stack
// locked by a running update is skipped with a warning, to be reaped on a
// later run. One failure does not stop the others: all are reported and
// joined into the returned error.
func (l *Lifecycle) Reap(ctx context.Context, defaultTTL time.Duration) (ReapReport, error) {
	var report ReapReport
	if defaultTTL <= 0 {
		return report, fmt.Errorf("reap: ttl must be positive, got %s", defaultTTL)
	}
	ws, err := l.workspace(ctx)
	if err != nil {
		return report, err
	}
	summaries, err := ws.ListStacks(ctx)
	if err != nil {
		return report, fmt.Errorf("list stacks: %w", err)
	}
	var errs []error
	for _, summary := range summaries {
		if err := l.reapOne(ctx, ws, summary, defaultTTL, time.Now(), &report); err != nil {
			errs = append(errs, err)
		}
	}
	return report, errors.Join(errs...)
}

func (l *Lifecycle) reapOne(
	ctx context.Context, ws auto.Workspace, summary auto.StackSummary,
	defaultTTL time.Duration, now time.Time, report *ReapReport,
) error {
	name := summary.Name
	if err := requireReviewStack(name); err != nil {
		report.Kept = append(report.Kept, l.note(name, "not a review stack"))
		return nil
	}
	if summary.UpdateInProgress {
		report.Skipped = append(report.Skipped, l.warn(name, "an update is in progress; skipped"))
		return nil
	}
	tags, err := ws.ListTags(ctx, name)
	if err != nil {
		report.Failed = append(report.Failed, l.warn(name, "cannot read tags; left alone"))
		return fmt.Errorf("read tags of stack %s: %w", name, err)
	}
	deadline, basis, known := deadlineOf(parseTags(tags), summary.LastUpdate, defaultTTL)
	if !known {
		report.Skipped = append(report.Skipped, l.warn(name, "age unknown (no created-at tag, never updated); skipped"))
		return nil
	}
	if now.Before(deadline) {
		report.Kept = append(report.Kept, l.note(name, fmt.Sprintf("expires %s (%s)", deadline.Format(time.RFC3339), basis)))
		return nil
	}

	reason := fmt.Sprintf("expired %s (%s)", deadline.Format(time.RFC3339), basis)
	fmt.Fprintf(l.stdout(), "reap: %s: %s: destroying\n", name, reason)
	if _, err := l.destroyStack(ctx, ws, name); err != nil {
		if auto.IsConcurrentUpdateError(err) {
			report.Skipped = append(report.Skipped, l.warn(name, "locked by a running update; skipped, a later run will reap it"))
			return nil
		}
		report.Failed = append(report.Failed, l.warn(name, "destroy failed"))
		return err
	}
	report.Destroyed = append(report.Destroyed, l.note(name, reason+": destroyed and removed"))
	return nil
}

// deadlineOf computes when a review stack expires and says from what.
// lastUpdate is the backend's timestamp from `pulumi stack ls --json`.
func deadlineOf(m Metadata, lastUpdate string, defaultTTL time.Duration) (deadline time.Time, basis string, known bool) {
	ttl, ttlBasis := m.TTL, "ttl tag"
	if ttl <= 0 {
		ttl, ttlBasis = defaultTTL, "default ttl"
	}
	if !m.CreatedAt.IsZero() {
		return m.CreatedAt.Add(ttl), fmt.Sprintf("created-at tag + %s %s", ttlBasis, ttl), true
	}
	if t, err := time.Parse(time.RFC3339, lastUpdate); err == nil {
		return t.Add(ttl), fmt.Sprintf("last update + %s %s", ttlBasis, ttl), true
	}
	return time.Time{}, "", false
}

func (l *Lifecycle) note(stack, reason string) Decision {
	fmt.Fprintf(l.stdout(), "reap: %s: %s\n", stack, reason)
	return Decision{Stack: stack, Reason: reason}
}

func (l *Lifecycle) warn(stack, reason string) Decision {
	fmt.Fprintf(l.stderr(), "warning: reap: %s: %s\n", stack, reason)
	return Decision{Stack: stack, Reason: reason}
}
