package foundation

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// StateBackendArgs shapes one class's Pulumi state.
type StateBackendArgs struct {
	Class stacks.Profile
	// Users are the principals that use the state and the key: the
	// class's CI roles (and the CI user, when there is one).
	Users []pulumi.StringInput
	// Administrators administer both, and may use them.
	Administrators []string
	Account        Account
}

// StateBackend is one class's Pulumi backend: an S3 bucket for the state
// (PULUMI_BACKEND_URL=s3://<bucket>) and the KMS key that is the class's
// secrets provider (awskms://alias/slipway-<class>-pulumi-secrets). The
// bucket is encrypted with the same key, so reading a class's state, like
// decrypting its config secrets, takes that key.
//
// The key policy has no "enable IAM policies" statement (the account
// root with kms:*): only the principals it names can use the key, however
// broad an IAM policy someone is given elsewhere in the account. Prod's
// key therefore serves slipway-prod-deploy and the administrators alone,
// and no dev, preview or review identity can decrypt prod's secrets, even
// when all of them live in one account.
type StateBackend struct {
	pulumi.ResourceState

	BucketName pulumi.StringOutput
	BucketARN  pulumi.StringOutput
	KeyARN     pulumi.StringOutput
	// BackendURL is PULUMI_BACKEND_URL for the class's stacks.
	BackendURL pulumi.StringOutput
}

// keyUse is what Pulumi's awskms secrets provider and S3 (SSE-KMS) call.
var keyUse = []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"}

// keyAdministration is what an administrator does with a key, use aside.
var keyAdministration = []string{"kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
	"kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
	"kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"}

// NewStateBackend creates the key, its alias and the bucket.
func NewStateBackend(ctx *pulumi.Context, name string, args StateBackendArgs, opts ...pulumi.ResourceOption) (*StateBackend, error) {
	b := &StateBackend{}
	if err := ctx.RegisterComponentResource("slipway:foundation:StateBackend", name, b, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(b)
	admins := strs(args.Administrators...)
	allowed := append(append([]pulumi.StringInput{}, args.Users...), admins...)
	star := pulumi.StringArray{pulumi.String("*")}

	keyPolicy := statements(ctx, parent,
		statement("Administer", "Allow", principal("AWS", admins...), append(append([]string{}, keyAdministration...), keyUse...), star, nil),
		statement("UseForPulumi", "Allow", principal("AWS", args.Users...), keyUse, star, nil),
		// Belt and braces: should someone add a broader statement to
		// this policy later, use by anyone else is still refused.
		statement("DenyUseByOthers", "Deny", principal("AWS", pulumi.String("*")),
			[]string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant"}, star,
			conditions(condition("ArnNotLike", "aws:PrincipalArn", allowed...))),
	)
	key, err := kms.NewKey(ctx, name, &kms.KeyArgs{
		Description:          pulumi.String("Pulumi secrets provider and state encryption of Slipway's " + string(args.Class) + " stacks"),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(30),
		Policy:               keyPolicy,
	}, parent, pulumi.Protect(true))
	if err != nil {
		return nil, err
	}
	if _, err := kms.NewAlias(ctx, name, &kms.AliasArgs{
		Name:        pulumi.String(SecretsKeyAlias(args.Class)),
		TargetKeyId: key.KeyId,
	}, parent); err != nil {
		return nil, err
	}

	// The state bucket: versioned (a bad update's checkpoint can be
	// rolled back), encrypted with the class's key, TLS only, never
	// public, readable only by the key's principals. Protected: losing
	// it loses the stacks' state.
	bucket, err := s3.NewBucketV2(ctx, name, &s3.BucketV2Args{}, parent, pulumi.Protect(true))
	if err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketVersioningV2(ctx, name, &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, parent); err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{&s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm:   pulumi.String("aws:kms"),
				KmsMasterKeyId: key.Arn,
			},
			BucketKeyEnabled: pulumi.Bool(true),
		}},
	}, parent); err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, parent); err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketOwnershipControls(ctx, name, &s3.BucketOwnershipControlsArgs{
		Bucket: bucket.ID(),
		Rule:   &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, parent); err != nil {
		return nil, err
	}
	objects := pulumi.StringArray{bucket.Arn, pulumi.Sprintf("%s/*", bucket.Arn)}
	if _, err := s3.NewBucketPolicy(ctx, name, &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: statements(ctx, parent,
			denyInsecureTransport([]string{"s3:*"}, objects),
			statement("DenyOtherPrincipals", "Deny", principal("AWS", pulumi.String("*")), []string{"s3:*"}, objects,
				conditions(condition("ArnNotLike", "aws:PrincipalArn", allowed...))),
		),
	}, parent); err != nil {
		return nil, err
	}
	b.BucketName, b.BucketARN, b.KeyARN = bucket.Bucket, bucket.Arn, key.Arn
	b.BackendURL = pulumi.Sprintf("s3://%s", bucket.Bucket)
	return b, ctx.RegisterResourceOutputs(b, pulumi.Map{
		"bucket": bucket.Bucket, "keyArn": key.Arn, "backendUrl": b.BackendURL,
		"secretsProvider": pulumi.String(SecretsProvider(args.Class)),
	})
}
