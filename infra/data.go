package infra

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/dlm"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// dlmServiceRolePolicy is AWS's managed policy for Data Lifecycle Manager
// snapshot schedules.
const dlmServiceRolePolicy = "service-role/AWSDataLifecycleManagerServiceRole"

// DataVolumeArgs shapes the Postgres data volume.
type DataVolumeArgs struct {
	SizeGiB          int
	AvailabilityZone pulumi.StringInput
	Profile          stacks.Profile
	// SnapshotRetentionDays daily snapshots are kept (prod).
	SnapshotRetentionDays int
	// BackupTag marks the volume for this stack's snapshot schedule.
	BackupTag string
	Account   account
	// PermissionsBoundary is the stack's role boundary (snapshot role).
	PermissionsBoundary pulumi.StringInput
	// SnapshotID, when set, is the snapshot a new volume starts from.
	SnapshotID string
}

// DataVolume is the EBS volume that holds Postgres data. It is a resource
// of its own, not the host's, so it outlives any host: replacing the host
// re-attaches the same volume.
type DataVolume struct {
	pulumi.ResourceState

	VolumeID         pulumi.IDOutput
	AvailabilityZone pulumi.StringOutput
}

// NewDataVolume creates the volume and, in prod, protects it, keeps it on
// delete and snapshots it daily.
func NewDataVolume(ctx *pulumi.Context, name string, args DataVolumeArgs, opts ...pulumi.ResourceOption) (*DataVolume, error) {
	d := &DataVolume{}
	// The type token follows the Go type. It was slipway:data:Volume: the
	// alias keeps the component's URN, and through it (children inherit
	// their parent's aliases) the protected volume's, so the rename is
	// never a replacement of the data (infra/urns_test.go).
	opts = append(opts, pulumi.Aliases([]pulumi.Alias{{Type: pulumi.String("slipway:data:Volume")}}))
	if err := ctx.RegisterComponentResource("slipway:data:DataVolume", name, d, opts...); err != nil {
		return nil, err
	}
	prod := args.Profile.ProtectsData()
	// In prod an update can never delete the data: the engine refuses to
	// delete a protected resource, and even a `pulumi destroy` after
	// unprotecting leaves the volume behind (retained). Should it ever be
	// deleted through Pulumi anyway (retain switched off on purpose), AWS
	// takes a final snapshot first.
	// snapshotId is read only when the volume is created: a snapshot id
	// set (or changed) later would otherwise replace the live volume with
	// a copy of the snapshot, so later changes are ignored.
	volumeOpts := []pulumi.ResourceOption{pulumi.Parent(d), pulumi.Protect(prod), pulumi.RetainOnDelete(prod),
		pulumi.IgnoreChanges([]string{"snapshotId"})}
	var snapshot pulumi.StringPtrInput
	if args.SnapshotID != "" {
		snapshot = pulumi.String(args.SnapshotID)
	}
	vol, err := ebs.NewVolume(ctx, name, &ebs.VolumeArgs{
		AvailabilityZone: args.AvailabilityZone,
		Size:             pulumi.Int(args.SizeGiB),
		Type:             pulumi.String("gp3"),
		Encrypted:        pulumi.Bool(true),
		FinalSnapshot:    pulumi.Bool(prod),
		SnapshotId:       snapshot,
		Tags:             pulumi.StringMap{"slipway-backup": pulumi.String(args.BackupTag)},
	}, volumeOpts...)
	if err != nil {
		return nil, err
	}
	d.VolumeID = vol.ID()
	d.AvailabilityZone = vol.AvailabilityZone
	if prod {
		if err := snapshotSchedule(ctx, name, args, d); err != nil {
			return nil, err
		}
	}
	return d, ctx.RegisterResourceOutputs(d, pulumi.Map{"volumeId": vol.ID()})
}

// snapshotSchedule takes a snapshot of the volume every day at 03:00 UTC
// and keeps the last SnapshotRetentionDays.
func snapshotSchedule(ctx *pulumi.Context, name string, args DataVolumeArgs, d *DataVolume) error {
	parent := pulumi.Parent(d)
	role, err := iam.NewRole(ctx, name+"-snapshots", &iam.RoleArgs{
		Path:             pulumi.String(iamPath),
		AssumeRolePolicy: assumeRolePolicy(ctx, parent, "dlm.amazonaws.com", nil),
		// The deploy identity may change this role only within it.
		PermissionsBoundary: args.PermissionsBoundary,
	}, parent)
	if err != nil {
		return err
	}
	if _, err := iam.NewRolePolicyAttachment(ctx, name+"-snapshots", &iam.RolePolicyAttachmentArgs{
		Role:      role.Name,
		PolicyArn: args.Account.managedPolicy(dlmServiceRolePolicy),
	}, parent); err != nil {
		return err
	}
	_, err = dlm.NewLifecyclePolicy(ctx, name, &dlm.LifecyclePolicyArgs{
		Description:      pulumi.String("Daily snapshots of the Slipway data volume"),
		ExecutionRoleArn: role.Arn,
		State:            pulumi.String("ENABLED"),
		PolicyDetails: &dlm.LifecyclePolicyPolicyDetailsArgs{
			ResourceTypes: pulumi.ToStringArray([]string{"VOLUME"}),
			TargetTags:    pulumi.StringMap{"slipway-backup": pulumi.String(args.BackupTag)},
			Schedules: dlm.LifecyclePolicyPolicyDetailsScheduleArray{&dlm.LifecyclePolicyPolicyDetailsScheduleArgs{
				Name:     pulumi.String("daily"),
				CopyTags: pulumi.Bool(true),
				CreateRule: &dlm.LifecyclePolicyPolicyDetailsScheduleCreateRuleArgs{
					Interval:     pulumi.Int(24),
					IntervalUnit: pulumi.String("HOURS"),
					Times:        pulumi.String("03:00"),
				},
				RetainRule: &dlm.LifecyclePolicyPolicyDetailsScheduleRetainRuleArgs{
					Count: pulumi.Int(args.SnapshotRetentionDays),
				},
			}},
		},
	}, parent)
	return err
}
