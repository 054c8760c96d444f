package ops

import (
	"context"
	"fmt"
)

// Rollback runs the class's rollback document on the stack's host: the
// release script brings the compose stack back to the release before the
// current one, health-gated, without building anything. Pulumi's state is
// not changed by it: the stack's outputs (releaseId) and the release's
// association still name the release of HEAD, so the next `pulumi up`
// rolls that out again. The message says so.
//
// On an ECS stack it points the api and worker services back at their
// previous task definition revisions instead (ecs.go, ecsRollback).
func (o *Ops) Rollback(ctx context.Context) error {
	if o.Outputs.Compute == ComputeECS {
		return o.ecsRollback(ctx)
	}
	if _, err := o.runHostDocument(ctx, KindRollback, nil); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout(), "stack %s rolled back to its previous healthy release (no rebuild).\n", o.Target.Stack)
	fmt.Fprintf(o.stdout(), "Pulumi still records release %s: the next `pulumi up` deploys the code at HEAD again. "+
		"Revert or fix the fault at HEAD before that up, or it rolls the fault out again.\n", orUnknown(o.Outputs.ReleaseID))
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
