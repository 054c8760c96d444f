package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
)

// Shell and psql open an interactive Session Manager session, which only
// the AWS CLI with the session-manager-plugin can do (the SDK starts a
// session but does not speak its websocket protocol). So both exec
//
//	aws ssm start-session --target <instance> --region <region> [...]
//
// with the terminal attached. The CLI uses the same credentials as this
// command (environment, AWS_PROFILE).

// SessionTools are the programs shell and psql need on PATH.
var SessionTools = []string{"aws", "session-manager-plugin"}

// composeProject is the compose project name on the host (app/compose.yaml,
// `name: slipway`); the db container carries its labels.
const composeProject = "slipway"

// PsqlCommand is the command the psql session runs on the host (as
// ssm-user, hence sudo): psql inside the db container, over TCP to
// 127.0.0.1 as the application's role ($DATABASE_USER, owner of
// $DATABASE_NAME; $POSTGRES_PASSWORD is that role's password in the db
// container, app/db/initdb.d), never as the superuser.
var PsqlCommand = `c="$(sudo docker ps -q --filter label=com.docker.compose.project=` + composeProject +
	` --filter label=com.docker.compose.service=db)"; ` +
	`[ -n "$c" ] || { echo "slipway psql: no running db container on this host" >&2; exit 1; }; ` +
	`exec sudo docker exec -it "$c" sh -c 'PGPASSWORD="$POSTGRES_PASSWORD" exec psql -h 127.0.0.1 -U "$DATABASE_USER" -d "$DATABASE_NAME"'`

// CheckSessionTools says which of SessionTools is missing, and how to get it.
func CheckSessionTools() error {
	for _, tool := range SessionTools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s is not on PATH. slipway shell and slipway psql need the AWS CLI v2 (aws) and the Session Manager plugin (session-manager-plugin): "+
				"https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html and "+
				"https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html",
				ErrMissingTool, tool)
		}
	}
	return nil
}

// ShellArgs are the AWS CLI arguments of a shell on the host.
func (o *Ops) ShellArgs() []string {
	return []string{"ssm", "start-session", "--target", o.Outputs.InstanceID, "--region", o.AWS.Region}
}

// PsqlArgs are the AWS CLI arguments of a psql session: Session Manager's
// AWS-StartInteractiveCommand (a Session document, not a Command document:
// SendCommand is never used here) running PsqlCommand.
func (o *Ops) PsqlArgs() []string {
	params, _ := json.Marshal(map[string][]string{"command": {PsqlCommand}})
	return append(o.ShellArgs(), "--document-name", "AWS-StartInteractiveCommand", "--parameters", string(params))
}

// Shell opens a shell on the stack's host; on an ECS stack, in a running
// api task's api container through ECS Exec:
//
//	aws ecs execute-command --cluster <c> --task <arn> --container api --interactive --command /bin/sh --region <r>
//
// which needs the same AWS CLI and session-manager-plugin.
func (o *Ops) Shell(ctx context.Context) error {
	if err := CheckSessionTools(); err != nil {
		return err
	}
	if o.Outputs.Compute == ComputeECS {
		task, err := o.execTask(ctx)
		if err != nil {
			return err
		}
		return o.run(ctx, o.ECSShellArgs(task))
	}
	return o.session(ctx, o.ShellArgs())
}

// Psql opens psql in the db container as the application's role. On an
// ECS stack no task has psql: it says so and what to run instead.
func (o *Ops) Psql(ctx context.Context) error {
	if o.Outputs.Compute == ComputeECS {
		return o.ecsPsql()
	}
	if err := CheckSessionTools(); err != nil {
		return err
	}
	return o.session(ctx, o.PsqlArgs())
}

func (o *Ops) session(ctx context.Context, args []string) error {
	if err := o.checkHost(ctx); err != nil {
		return err
	}
	return o.run(ctx, args)
}

// run execs the AWS CLI with the terminal attached.
func (o *Ops) run(ctx context.Context, args []string) error {
	cmd := exec.CommandContext(ctx, "aws", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	}
	if o.Stderr != nil {
		cmd.Stderr = o.Stderr
	}
	// Ctrl-C belongs to the remote shell (the plugin forwards it), not to
	// this process.
	signal.Ignore(os.Interrupt)
	defer signal.Reset(os.Interrupt)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("aws %s: %w", args[0]+" "+args[1], err)
	}
	return nil
}
