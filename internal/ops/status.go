package ops

import (
	"context"
	"fmt"
)

// Status prints what Pulumi last deployed (the stack's outputs: instance,
// release, image digests) and then what the host says through the class's
// status document: the current and previous release and each service's
// health. The two can differ, after a rollback or a failed rollout; the
// host's answer is what runs.
//
// On an ECS stack the answer is ECS's: each service's counts, task
// definition, deployments and images (ecs.go, ecsStatus).
func (o *Ops) Status(ctx context.Context) error {
	if o.Outputs.Compute == ComputeECS {
		return o.ecsStatus(ctx)
	}
	w := o.stdout()
	fmt.Fprintf(w, "stack %s (class %s), instance %s, region %s\n", o.Target.Stack, o.Target.Class, o.Outputs.InstanceID, o.AWS.Region)
	fmt.Fprintf(w, "deployed by the last pulumi up: release %s\n", orUnknown(o.Outputs.ReleaseID))
	for _, name := range sortedKeys(o.Outputs.ImageDigests) {
		fmt.Fprintf(w, "  image %-8s %s\n", name, o.Outputs.ImageDigests[name])
	}
	fmt.Fprintln(w, "on the host:")
	_, err := o.runHostDocument(ctx, KindStatus, nil)
	return err
}
