// Package ops is the operator's one-command operations on a deployed
// Slipway stack, from a workstation: rollback, maintenance on|off, status,
// logs, shell and psql. Each reads the stack's outputs (what the last
// `pulumi up` deployed: instanceId, releaseId, imageDigests), checks the AWS
// credentials before the first call, and, for what acts on the host, checks
// that the host answers SSM before running anything there.
//
// What acts on the host runs only the foundation's host documents,
// slipway-<class>-<kind> (infra/foundation/documents.go on the
// workflows branch): the environment class is fixed inside the document,
// its parameters are validated by allowedPattern, and the document refuses a
// host whose stack tag is not of its class. This package can send no other
// document: the name is built from a closed set of kinds and checked against
// that pattern right before SendCommand (hostdoc.go). It never sends
// AWS-RunShellScript or any other generic document.
//
// A stack with slipway:compute=ecs has no host: its outputs name a cluster
// (Outputs.Compute is ecs) and each command acts through the ECS API
// instead (ecs.go: DescribeServices, UpdateService, ECS Exec) and, for
// maintenance, the WAF's regex pattern set (wafv2). No host document is
// sent on an ECS stack.
//
// One file per command family: outputs.go (the stack's outputs),
// aws.go (credentials and clients), hostdoc.go (running a host document),
// ecs.go (the ECS and WAF calls of an ECS stack), rollback.go,
// maintenance.go, status.go, logs.go, session.go (shell, psql).
package ops

import (
	"errors"
	"io"
	"time"

	"slipway/stacks"
)

// The errors every command may end with, each wrapped with what to do.
// Callers (cmd/slipway) print the message; tests match them with errors.Is.
var (
	// ErrNoCredentials: the AWS SDK found no credentials (or could not
	// refresh them) before any call was made.
	ErrNoCredentials = errors.New("no AWS credentials")
	// ErrNotDeployed: the stack has no outputs, or neither instanceId
	// (host) nor clusterName (ecs); on ECS also a cluster, service or
	// WAF pattern set that AWS does not have.
	ErrNotDeployed = errors.New("stack is not deployed")
	// ErrHostUnreachable: the host is not registered with SSM, its agent
	// is not online, or a command was never delivered.
	ErrHostUnreachable = errors.New("host does not answer")
	// ErrNoDocument: the account's foundation has no host document of
	// this kind for the class.
	ErrNoDocument = errors.New("host document missing")
	// ErrCommandFailed: the host document ran and failed (its output says why).
	ErrCommandFailed = errors.New("host command failed")
	// ErrMissingTool: shell and psql need the AWS CLI and the
	// session-manager-plugin on PATH.
	ErrMissingTool = errors.New("missing tool")
	// ErrServiceUnreachable: on an ECS stack, the cluster or a service is
	// not active, has no running task to open a session in, or its
	// deployment did not become stable.
	ErrServiceUnreachable = errors.New("ECS service does not answer")
	// ErrNoPsqlClient: no task of an ECS stack has a psql client (the api
	// image ships node and node-postgres only); psql says what to run.
	ErrNoPsqlClient = errors.New("no psql client on ECS")
)

// Target is the stack an operation acts on.
type Target struct {
	Stack string
	// Class is the stack's environment class (dev, review, prod): it
	// picks the host documents slipway-<class>-*.
	Class stacks.Profile
}

// NewTarget maps a stack name to its class; dev -> dev, prod -> prod,
// pr-<n> -> review. Any other name is refused, naming what is accepted.
func NewTarget(stack string) (Target, error) {
	class, err := stacks.ProfileOf(stack)
	if err != nil {
		return Target{}, err
	}
	return Target{Stack: stack, Class: class}, nil
}

// Ops runs operations for one stack.
type Ops struct {
	Target  Target
	Outputs Outputs
	AWS     *AWS

	// Stdout receives results, Stderr progress; nil discards.
	Stdout, Stderr io.Writer

	// PollInterval is how often command results and followed logs are
	// polled; zero means 2 s.
	PollInterval time.Duration
	// Timeout bounds the wait for a host document's result; zero means
	// 30 minutes (the rollback document's own timeout is about 20).
	Timeout time.Duration
}

func (o *Ops) stdout() io.Writer { return orDiscard(o.Stdout) }
func (o *Ops) stderr() io.Writer { return orDiscard(o.Stderr) }

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func (o *Ops) poll() time.Duration {
	if o.PollInterval > 0 {
		return o.PollInterval
	}
	return 2 * time.Second
}

func (o *Ops) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 30 * time.Minute
}
