package foundation

import (
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// CIUserArgs shapes the optional CI user.
type CIUserArgs struct {
	Class         stacks.Profile
	KeyGeneration int
}

// CIUser is an IAM user with an access key, for CI that cannot use OIDC.
// Off by default (slipway-foundation:ciUser): a stored key is a secret
// that can leak and outlive the job that used it; the OIDC roles need
// none. The user holds the class's deploy policies through a group
// (CIPolicies attaches them), never directly.
//
// Rotation: raise slipway-foundation:ciUserKeyGeneration by one and run
// the foundation. The update creates the key of the new generation
// (active) and, in the same run, sets the previous generation's key to
// Inactive: from then on the old key fails every call (CloudTrail shows
// who still tries it), without being gone, so an administrator can
// reactivate it briefly if CI has not been switched yet. The key two
// generations back is no longer declared and is deleted. IAM allows two
// keys per user, which is exactly what this keeps.
type CIUser struct {
	pulumi.ResourceState

	UserName, UserARN, GroupName pulumi.StringOutput
	AccessKeyID                  pulumi.StringOutput
	SecretAccessKey              pulumi.StringOutput // secret
}

// NewCIUser creates the user, its group and its keys.
func NewCIUser(ctx *pulumi.Context, name string, args CIUserArgs, opts ...pulumi.ResourceOption) (*CIUser, error) {
	u := &CIUser{}
	if err := ctx.RegisterComponentResource("slipway:foundation:CIUser", name, u, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(u)
	userName := ciPolicyPrefix + string(args.Class)
	// No login profile (no console): keys only. ForceDestroy deletes its
	// keys with it.
	user, err := iam.NewUser(ctx, name, &iam.UserArgs{
		Name:         pulumi.String(userName),
		Path:         pulumi.String(iamPath),
		ForceDestroy: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, err
	}
	group, err := iam.NewGroup(ctx, name, &iam.GroupArgs{Name: pulumi.String(userName), Path: pulumi.String(iamPath)}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewUserGroupMembership(ctx, name, &iam.UserGroupMembershipArgs{
		User:   user.Name,
		Groups: pulumi.StringArray{group.Name},
	}, parent); err != nil {
		return nil, err
	}
	var active *iam.AccessKey
	for gen := max(1, args.KeyGeneration-1); gen <= args.KeyGeneration; gen++ {
		status := "Inactive"
		if gen == args.KeyGeneration {
			status = "Active"
		}
		key, err := iam.NewAccessKey(ctx, name+"-key-"+strconv.Itoa(gen), &iam.AccessKeyArgs{
			User:   user.Name,
			Status: pulumi.String(status),
		}, parent)
		if err != nil {
			return nil, err
		}
		active = key
	}
	u.UserName, u.UserARN, u.GroupName = user.Name, user.Arn, group.Name
	u.AccessKeyID = active.ID().ToStringOutput()
	u.SecretAccessKey = pulumi.ToSecret(active.Secret).(pulumi.StringOutput)
	return u, ctx.RegisterResourceOutputs(u, pulumi.Map{"userName": user.Name, "accessKeyId": u.AccessKeyID})
}
