// Command slipway is the operator's tool for the Slipway stacks:
//
//	slipway plan --stack dev        the offline plan (no AWS, no Pulumi CLI)
//	slipway plan --project foundation --stack prod   the same for a foundation stack
//	slipway review up --pr 42       review stacks per pull request
//
// Each subcommand lives in its own file (plan.go, review.go) as a
// run<Name>(args, …, stdout, stderr) int; main only dispatches.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"slipway/program"
)

const usage = `usage: slipway <command> [flags]

commands:
  plan     the offline plan of a stack: resources, policy verdicts, monthly cost
           (slipway plan --stack dev [--format text|json|mermaid] [--project-dir .];
            slipway plan --project foundation --stack dev|prod|single for the foundation)
  review   review stacks per pull request on the real Pulumi engine
           (slipway review up|destroy --pr N, slipway review reap --ttl 72h)

Run "slipway <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "plan":
		// Like review, plan works from anywhere in the checkout; an
		// explicit --project-dir (parsed later) still wins.
		if dir, err := projectDir(); err == nil {
			args = append([]string{"plan", "--project-dir", dir}, args[1:]...)
		}
		return runPlan(args[1:], program.Build, stdout, stderr)
	case "review":
		dir, err := projectDir()
		if err != nil {
			fmt.Fprintln(stderr, "slipway:", err)
			return 2
		}
		return runReview(args[1:], program.Run, dir, stdout, stderr)
	case "rollback", "maintenance", "status", "logs", "shell", "psql": // ops.go
		return runOps(args[0], args[1:], defaultOpsDeps(), stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "slipway: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// projectDir finds the directory holding Pulumi.yaml: the current one or
// the nearest parent, so the command works from anywhere in the checkout.
func projectDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no Pulumi.yaml in this directory or its parents: run slipway inside the project")
		}
		dir = parent
	}
}
