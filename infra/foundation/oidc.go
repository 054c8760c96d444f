package foundation

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// GitHubOIDCHost is GitHub Actions' token issuer.
const GitHubOIDCHost = "token.actions.githubusercontent.com"

// githubThumbprints are the certificate thumbprints GitHub documents for
// its OIDC issuer. AWS now trusts the issuer through its own CA library
// and ignores them, but the API still takes the list.
var githubThumbprints = []string{
	"6938fd4d98bab03faadb97b34396831e3780aea1",
	"1c58a3a8518e8759bf075b76b750d4f2df264fcd",
}

// GitHubOIDC is the account's one OIDC provider for GitHub Actions: IAM
// allows one provider per issuer URL and account, which is why it lives in
// the foundation (one per account) and not in any app stack.
type GitHubOIDC struct {
	pulumi.ResourceState

	ARN pulumi.StringOutput
}

// NewGitHubOIDC creates the provider. The audience is sts.amazonaws.com,
// what aws-actions/configure-aws-credentials asks for; each role's trust
// pins the audience and its one subject.
func NewGitHubOIDC(ctx *pulumi.Context, name string, opts ...pulumi.ResourceOption) (*GitHubOIDC, error) {
	o := &GitHubOIDC{}
	if err := ctx.RegisterComponentResource("slipway:foundation:GitHubOIDC", name, o, opts...); err != nil {
		return nil, err
	}
	provider, err := iam.NewOpenIdConnectProvider(ctx, name, &iam.OpenIdConnectProviderArgs{
		Url:             pulumi.String("https://" + GitHubOIDCHost),
		ClientIdLists:   pulumi.ToStringArray([]string{"sts.amazonaws.com"}),
		ThumbprintLists: pulumi.ToStringArray(githubThumbprints),
	}, pulumi.Parent(o))
	if err != nil {
		return nil, err
	}
	o.ARN = provider.Arn
	return o, ctx.RegisterResourceOutputs(o, pulumi.Map{"arn": provider.Arn})
}
