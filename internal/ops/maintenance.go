package ops

import (
	"context"
	"fmt"
)

// MaintenanceModeParameter is the maintenance document's parameter that
// says on or off (its allowedPattern is the foundation's: ^(on|off)$).
const MaintenanceModeParameter = "mode"

// Maintenance turns maintenance mode on or off through the class's
// maintenance document: with it on, nginx answers 503 with Retry-After and
// a small page, while the health endpoints keep answering (so the
// readiness alarm and the release's health gate are unaffected).
//
// On an ECS stack the load balancer's web ACL has the maintenance rule;
// this sets the regular expressions of the pattern set it matches (ecs.go,
// ecsMaintenance).
func (o *Ops) Maintenance(ctx context.Context, on bool) error {
	if o.Outputs.Compute == ComputeECS {
		return o.ecsMaintenance(ctx, on)
	}
	mode := "off"
	if on {
		mode = "on"
	}
	if _, err := o.runHostDocument(ctx, KindMaintenance, map[string]string{MaintenanceModeParameter: mode}); err != nil {
		return err
	}
	if on {
		fmt.Fprintf(o.stdout(), "maintenance on for stack %s: nginx answers 503 with Retry-After; health endpoints still answer. End it with `slipway maintenance off --stack %s`.\n",
			o.Target.Stack, o.Target.Stack)
	} else {
		fmt.Fprintf(o.stdout(), "maintenance off for stack %s: nginx serves the application again.\n", o.Target.Stack)
	}
	return nil
}
