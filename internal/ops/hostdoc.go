package ops

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"slipway/stacks"
)

// DocumentKind is a kind of the foundation's host documents that an
// operator runs from a workstation. The rollout is `pulumi up`'s (the
// release's association), never a workstation's.
type DocumentKind string

const (
	KindRollback    DocumentKind = "rollback"
	KindMaintenance DocumentKind = "maintenance"
	KindStatus      DocumentKind = "status"
)

// hostDocumentName is every name this package may send: the foundation's
// documents of the three classes and the three workstation kinds. It is
// checked right before SendCommand, so no code path, present or future,
// can send AWS-RunShellScript or any document the foundation does not own.
var hostDocumentName = regexp.MustCompile(`^slipway-(dev|review|prod)-(rollback|maintenance|status)$`)

// DocumentName is the foundation's document of the class and kind,
// slipway-<class>-<kind> (infra/foundation/documents.go), refused unless it is one of the
// names above.
func DocumentName(class stacks.Profile, kind DocumentKind) (string, error) {
	name := "slipway-" + string(class) + "-" + string(kind)
	if !hostDocumentName.MatchString(name) {
		return "", fmt.Errorf("refusing to run document %q: only the foundation's host documents slipway-<dev|review|prod>-<rollback|maintenance|status> run on a host", name)
	}
	return name, nil
}

// deliveryTimeout is SendCommand's TimeoutSeconds: how long SSM tries to
// deliver the command to the agent. A host whose agent is online takes it
// in seconds; two minutes without it means the host does not answer.
const deliveryTimeout = 120

// Result is a finished host document's outcome.
type Result struct {
	Document  string
	CommandID string
	Status    string
	Details   string
	Stdout    string
	Stderr    string
}

// checkHost asks SSM whether the stack's instance is registered and its
// agent online (DescribeInstanceInformation), before anything is sent.
func (o *Ops) checkHost(ctx context.Context) error {
	id := o.Outputs.InstanceID
	out, err := o.AWS.SSM.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []types.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{id}}},
	})
	if err != nil {
		return callError("ssm DescribeInstanceInformation", err)
	}
	for _, info := range out.InstanceInformationList {
		if aws.ToString(info.InstanceId) != id {
			continue
		}
		if info.PingStatus == types.PingStatusOnline {
			return nil
		}
		seen := "never"
		if info.LastPingDateTime != nil {
			seen = info.LastPingDateTime.UTC().Format(time.RFC3339)
		}
		return fmt.Errorf("%w: the SSM agent of %s (stack %s) is %s, last seen %s: the host is stopped, rebooting or cut off from SSM; check it in the EC2 console",
			ErrHostUnreachable, id, o.Target.Stack, info.PingStatus, seen)
	}
	return fmt.Errorf("%w: instance %s (stack %s) is not registered with Systems Manager in %s: the host is stopped, terminated, still booting, or its SSM agent cannot reach SSM",
		ErrHostUnreachable, id, o.Target.Stack, o.AWS.Region)
}

// runHostDocument runs the class's document of the kind on the stack's
// host with the `stack` parameter (every host document's; the document
// refuses a host whose stack tag differs) and the given extra parameters,
// waits for it, and prints its output.
func (o *Ops) runHostDocument(ctx context.Context, kind DocumentKind, params map[string]string) (Result, error) {
	name, err := DocumentName(o.Target.Class, kind)
	if err != nil {
		return Result{}, err
	}
	res := Result{Document: name}
	if err := o.checkHost(ctx); err != nil {
		return res, err
	}
	parameters := map[string][]string{"stack": {o.Target.Stack}}
	for k, v := range params {
		parameters[k] = []string{v}
	}
	// The name is checked once more here, at the only SendCommand call.
	if !hostDocumentName.MatchString(name) {
		return res, fmt.Errorf("refusing to send document %q", name)
	}
	sent, err := o.AWS.SSM.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName:   aws.String(name),
		InstanceIds:    []string{o.Outputs.InstanceID},
		Parameters:     parameters,
		TimeoutSeconds: aws.Int32(deliveryTimeout),
		Comment:        aws.String("slipway " + string(kind) + " --stack " + o.Target.Stack),
	})
	if err != nil {
		return res, o.sendError(name, err)
	}
	res.CommandID = aws.ToString(sent.Command.CommandId)
	fmt.Fprintf(o.stderr(), "running %s on %s (stack %s), command %s\n", name, o.Outputs.InstanceID, o.Target.Stack, res.CommandID)
	return o.wait(ctx, res)
}

func (o *Ops) sendError(name string, err error) error {
	switch apiCode(err) {
	case "InvalidDocument":
		return fmt.Errorf("%w: the foundation of this account has no document %s: run the foundation's pulumi up (SSM said: %s)",
			ErrNoDocument, name, apiMessage(err))
	case "InvalidInstanceId":
		return fmt.Errorf("%w: SSM cannot reach instance %s (stack %s): %s", ErrHostUnreachable, o.Outputs.InstanceID, o.Target.Stack, apiMessage(err))
	case "InvalidParameters":
		return fmt.Errorf("document %s refused the parameters: %s (the foundation's document may be older than this CLI: run the foundation's pulumi up)",
			name, apiMessage(err))
	}
	return callError("ssm SendCommand "+name, err)
}

// wait polls GetCommandInvocation until the command ends or Timeout
// passes, then prints the document's output (stdout to Stdout, stderr to
// Stderr).
func (o *Ops) wait(ctx context.Context, res Result) (Result, error) {
	deadline := time.Now().Add(o.timeout())
	for {
		inv, err := o.AWS.SSM.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{
			CommandId:  aws.String(res.CommandID),
			InstanceId: aws.String(o.Outputs.InstanceID),
		})
		switch {
		case err != nil && apiCode(err) == "InvocationDoesNotExist":
			// SSM records the invocation a moment after SendCommand.
		case err != nil:
			return res, callError("ssm GetCommandInvocation", err)
		default:
			res.Status = string(inv.Status)
			res.Details = strings.ReplaceAll(aws.ToString(inv.StatusDetails), " ", "")
			res.Stdout = aws.ToString(inv.StandardOutputContent)
			res.Stderr = aws.ToString(inv.StandardErrorContent)
			if done, err := o.finished(res); done {
				return res, err
			}
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("no result from %s after %s; it may still be running: aws ssm get-command-invocation --command-id %s --instance-id %s --region %s",
				res.Document, o.timeout(), res.CommandID, o.Outputs.InstanceID, o.AWS.Region)
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("stopped waiting for %s (command %s keeps running on the host): %w", res.Document, res.CommandID, ctx.Err())
		case <-time.After(o.poll()):
		}
	}
}

// finished reports whether the invocation has ended and, if so, prints its
// output and returns its verdict.
func (o *Ops) finished(res Result) (bool, error) {
	switch types.CommandInvocationStatus(res.Status) {
	case types.CommandInvocationStatusPending, types.CommandInvocationStatusInProgress,
		types.CommandInvocationStatusDelayed, types.CommandInvocationStatusCancelling:
		return false, nil
	}
	if res.Stdout != "" {
		fmt.Fprint(o.stdout(), withNewline(res.Stdout))
	}
	if res.Stderr != "" {
		fmt.Fprint(o.stderr(), withNewline(res.Stderr))
	}
	switch {
	case res.Status == string(types.CommandInvocationStatusSuccess):
		return true, nil
	case res.Details == "DeliveryTimedOut" || res.Details == "Undeliverable":
		return true, fmt.Errorf("%w: %s was not delivered to %s (%s): the SSM agent did not take it within %d s",
			ErrHostUnreachable, res.Document, o.Outputs.InstanceID, res.Details, deliveryTimeout)
	case res.Details == "ExecutionTimedOut":
		return true, fmt.Errorf("%w: %s ran out of its time on the host (ExecutionTimedOut); its output is above", ErrCommandFailed, res.Document)
	default:
		return true, fmt.Errorf("%w: %s ended %s (%s) on %s; its output is above", ErrCommandFailed, res.Document, res.Status, res.Details, o.Outputs.InstanceID)
	}
}

func withNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}
