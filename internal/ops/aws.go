package ops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/smithy-go"
)

// SSMAPI is the part of Systems Manager the operations call.
type SSMAPI interface {
	DescribeInstanceInformation(context.Context, *ssm.DescribeInstanceInformationInput, ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error)
	SendCommand(context.Context, *ssm.SendCommandInput, ...func(*ssm.Options)) (*ssm.SendCommandOutput, error)
	GetCommandInvocation(context.Context, *ssm.GetCommandInvocationInput, ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error)
}

// LogsAPI is the part of CloudWatch Logs the operations call.
type LogsAPI interface {
	DescribeLogGroups(context.Context, *cloudwatchlogs.DescribeLogGroupsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error)
	FilterLogEvents(context.Context, *cloudwatchlogs.FilterLogEventsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
}

// ECSAPI is the part of ECS the operations call on an ECS stack.
type ECSAPI interface {
	DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskDefinition(context.Context, *ecs.DescribeTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	ListTaskDefinitions(context.Context, *ecs.ListTaskDefinitionsInput, ...func(*ecs.Options)) (*ecs.ListTaskDefinitionsOutput, error)
	RegisterTaskDefinition(context.Context, *ecs.RegisterTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	UpdateService(context.Context, *ecs.UpdateServiceInput, ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	ListTasks(context.Context, *ecs.ListTasksInput, ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(context.Context, *ecs.DescribeTasksInput, ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	ListServiceDeployments(context.Context, *ecs.ListServiceDeploymentsInput, ...func(*ecs.Options)) (*ecs.ListServiceDeploymentsOutput, error)
	DescribeServiceRevisions(context.Context, *ecs.DescribeServiceRevisionsInput, ...func(*ecs.Options)) (*ecs.DescribeServiceRevisionsOutput, error)
}

// WAFAPI is the part of AWS WAF (wafv2) maintenance calls on an ECS stack.
type WAFAPI interface {
	GetRegexPatternSet(context.Context, *wafv2.GetRegexPatternSetInput, ...func(*wafv2.Options)) (*wafv2.GetRegexPatternSetOutput, error)
	UpdateRegexPatternSet(context.Context, *wafv2.UpdateRegexPatternSetInput, ...func(*wafv2.Options)) (*wafv2.UpdateRegexPatternSetOutput, error)
}

// AWS holds the clients of one region, made after the credentials were
// found to work.
type AWS struct {
	Region string
	SSM    SSMAPI
	Logs   LogsAPI
	ECS    ECSAPI
	WAF    WAFAPI
}

// credentialsWait bounds the credential check: the SDK's default chain
// ends at the instance metadata service, which on a workstation does not
// answer and would otherwise hold the command for its own retries.
const credentialsWait = 20 * time.Second

// Config is the operator's AWS configuration with credentials that were
// retrieved once, so they are known to exist.
type Config struct {
	cfg aws.Config
}

// LoadConfig loads the operator's AWS configuration the way the AWS CLI
// does (environment, AWS_PROFILE and the shared files, SSO, then an
// instance role) and retrieves the credentials before any call, so that
// "no credentials" is said as such, not as the first call's signing error
// (or as the Pulumi CLI's, whose S3 backend needs them too). The SDK also
// honours AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL_CLOUDWATCH_LOGS,
// AWS_ENDPOINT_URL_ECS and AWS_ENDPOINT_URL_WAFV2, which the tests use to
// reach kumo and the fake.
func LoadConfig(ctx context.Context) (*Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, noCredentials(err)
	}
	rctx, cancel := context.WithTimeout(ctx, credentialsWait)
	defer cancel()
	creds, err := cfg.Credentials.Retrieve(rctx)
	if err != nil {
		return nil, noCredentials(err)
	}
	if !creds.HasKeys() {
		return nil, noCredentials(errors.New("the credentials found have no access key"))
	}
	return &Config{cfg: cfg}, nil
}

// Clients makes the SSM, CloudWatch Logs, ECS and WAFv2 clients of the
// region (the stack's); "" means the configuration's own (AWS_REGION, the
// profile). Making a client calls nothing.
func (c *Config) Clients(region string) (*AWS, error) {
	cfg := c.cfg.Copy()
	if region != "" {
		cfg.Region = region
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: the stack's outputs name none (no region, ssmSessionCommand or ecsExecCommand output); pass --region or set AWS_REGION")
	}
	return &AWS{
		Region: cfg.Region,
		SSM:    ssm.NewFromConfig(cfg),
		Logs:   cloudwatchlogs.NewFromConfig(cfg),
		ECS:    ecs.NewFromConfig(cfg),
		WAF:    wafv2.NewFromConfig(cfg),
	}, nil
}

// Connect is LoadConfig, then Clients of the region.
func Connect(ctx context.Context, region string) (*AWS, error) {
	c, err := LoadConfig(ctx)
	if err != nil {
		return nil, err
	}
	return c.Clients(region)
}

// noCredentials rewrites the SDK's credential chain error (a long wrap of
// every provider it tried) into what to do.
func noCredentials(err error) error {
	profile := os.Getenv("AWS_PROFILE")
	where := "the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), the shared config and credentials files, SSO, or an instance role"
	if profile != "" {
		where = fmt.Sprintf("profile %q (AWS_PROFILE) of the shared config and credentials files", profile)
	}
	return fmt.Errorf("%w: the AWS SDK found none usable in %s. Log in first (for example `aws sso login --profile <name>` and export AWS_PROFILE=<name>, or export an access key), then run again. The SDK said: %v",
		ErrNoCredentials, where, err)
}

// apiCode is the AWS error code of err ("InvalidDocument"), or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// apiMessage is the AWS error message of err, or err itself.
func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorMessage() != "" {
		return ae.ErrorMessage()
	}
	return err.Error()
}

// credentialFailure tells whether an API call failed for its credentials
// (expired session, revoked key) rather than its request.
func credentialFailure(err error) bool {
	switch apiCode(err) {
	case "ExpiredTokenException", "ExpiredToken", "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException":
		return true
	}
	return false
}

// callError wraps an API call's failure, rewriting credential failures.
func callError(call string, err error) error {
	if credentialFailure(err) {
		return noCredentials(fmt.Errorf("%s: %w", call, err))
	}
	return fmt.Errorf("%s: %w", call, err)
}
