package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"slipway/infra"
	"slipway/internal/ops"
)

const opsUsage = `usage (from a workstation, with AWS credentials and the stack's Pulumi backend):
  slipway rollback --stack S
      back to the previous healthy release on the host, no rebuild
  slipway maintenance on|off --stack S
      nginx answers 503 with Retry-After (health endpoints unaffected), or not
  slipway status --stack S
      the deployed and the running release, each service's health, image digests
  slipway logs <service> --stack S [--since 10m] [--follow]
      a service's logs from CloudWatch Logs (api, worker, proxy, db)
  slipway shell --stack S
      a shell on the host through Session Manager
  slipway psql --stack S
      psql in the db container as the application's role, through Session Manager

Every command reads the stack's outputs with the Pulumi CLI (pulumi stack output)
and runs only the foundation's host documents slipway-<class>-*. shell and psql
need the AWS CLI v2 and the session-manager-plugin on PATH.
On an ECS stack (slipway:compute=ecs) the same commands act through ECS and AWS
WAF instead: rollback and status on the api and worker services, maintenance on
the WAF's maintenance pattern set, shell through ECS Exec into an api task; psql
says what to run instead (the tasks have no psql client).
Flags for all: --stack S (required), --region R (default: the stack's region),
--timeout D (wait for a host command or an ECS rollback, default 30m).
`

// opsCommands are the subcommands runOps serves.
var opsCommands = []string{"rollback", "maintenance", "status", "logs", "shell", "psql"}

// opsDeps are what runOps needs from outside, so tests can hand their own.
type opsDeps struct {
	projectDir string
	// outputs reads the stack's outputs (ops.ReadOutputs).
	outputs func(ctx context.Context, projectDir, stack string) (ops.Outputs, error)
	// loadAWS finds the operator's AWS credentials (ops.LoadConfig).
	loadAWS func(ctx context.Context) (*ops.Config, error)
}

// defaultOpsDeps reads the outputs with the Pulumi CLI in the project
// directory (found as for review) and connects with the SDK's default
// credential chain.
func defaultOpsDeps() opsDeps {
	read := ops.ReadOutputs
	dir, err := projectDir()
	if err != nil {
		read = func(context.Context, string, string) (ops.Outputs, error) { return ops.Outputs{}, err }
	}
	return opsDeps{projectDir: dir, outputs: read, loadAWS: ops.LoadConfig}
}

// runOps runs one of opsCommands and returns the exit code: 0 done, 1
// failed, 2 usage error.
func runOps(command string, args []string, deps opsDeps, stdout, stderr io.Writer) int {
	err := opsMain(command, args, deps, stdout, stderr)
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "slipway %s: %v\n\n%s", command, err, opsUsage)
		return 2
	default:
		fmt.Fprintf(stderr, "slipway %s: %v\n", command, err)
		return 1
	}
}

func opsMain(command string, args []string, deps opsDeps, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("slipway "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, opsUsage) }
	stack := fs.String("stack", "", "the stack (dev, prod, pr-<n>)")
	region := fs.String("region", "", "AWS region (default: the stack's, from its outputs)")
	timeout := fs.Duration("timeout", 30*time.Minute, "how long to wait for a host command or an ECS rollback")
	since := fs.Duration("since", 10*time.Minute, "logs: how far back to start")
	follow := fs.Bool("follow", false, "logs: keep printing new events")

	// The positional word (maintenance on|off, logs <service>) comes first
	// or after the flags; the flag package stops at the first non-flag.
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError(err.Error())
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *stack == "" {
		return usageError("--stack S is required")
	}
	target, err := ops.NewTarget(*stack)
	if err != nil {
		return usageError(err.Error())
	}

	var on bool
	var service string
	want := 0
	switch command {
	case "maintenance":
		want = 1
		if len(positional) == 1 {
			switch positional[0] {
			case "on":
				on = true
			case "off":
			default:
				return usageError(fmt.Sprintf("maintenance takes on or off, not %q", positional[0]))
			}
		}
	case "logs":
		want = 1
		if len(positional) == 1 {
			service = positional[0]
		}
	}
	switch {
	case len(positional) == want:
	case command == "maintenance" && len(positional) == 0:
		return usageError("maintenance needs on or off")
	case command == "logs" && len(positional) == 0:
		return usageError(fmt.Sprintf("logs needs a service: %s", strings.Join(infra.LogServices, ", ")))
	default:
		return usageError(fmt.Sprintf("unexpected arguments: %s", strings.Join(positional[want:], " ")))
	}
	if command == "shell" || command == "psql" {
		// Before anything else: without these nothing can open a session.
		if err := ops.CheckSessionTools(); err != nil {
			return err
		}
	}

	ctx := context.Background()
	if command != "shell" && command != "psql" {
		// Ctrl-C stops waiting (a host command keeps running, and says
		// so); a session's Ctrl-C belongs to the remote shell instead.
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}

	// Credentials first: without them nothing below can work, and the
	// Pulumi CLI's own error for them (an S3 backend) says less.
	awsConfig, err := deps.loadAWS(ctx)
	if err != nil {
		return err
	}
	outputs, err := deps.outputs(ctx, deps.projectDir, target.Stack)
	if err != nil {
		return err
	}
	r := outputs.Region
	if *region != "" {
		r = *region
	}
	clients, err := awsConfig.Clients(r)
	if err != nil {
		return err
	}
	o := &ops.Ops{Target: target, Outputs: outputs, AWS: clients, Stdout: stdout, Stderr: stderr, Timeout: *timeout}

	switch command {
	case "rollback":
		return o.Rollback(ctx)
	case "maintenance":
		return o.Maintenance(ctx, on)
	case "status":
		return o.Status(ctx)
	case "logs":
		return o.Logs(ctx, ops.LogsOptions{Service: service, Since: *since, Follow: *follow, Services: infra.LogServices})
	case "shell":
		o.Stdout, o.Stderr = nil, nil // the terminal's own
		return o.Shell(ctx)
	case "psql":
		o.Stdout, o.Stderr = nil, nil
		return o.Psql(ctx)
	}
	return usageError(fmt.Sprintf("unknown command %q", command))
}
