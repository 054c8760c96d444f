// Command slipway is the operator's tool for the Slipway stacks:
//
//	slipway plan --stack dev     the offline plan (no AWS, no Pulumi CLI)
//
// Each subcommand lives in its own file (plan.go, review.go) as a
// run<Name>(args, …, stdout, stderr) int; main only dispatches.
package main

import (
	"fmt"
	"io"
	"os"

	"slipway/program"
)

const usage = `usage: slipway <command> [flags]

commands:
  plan     the offline plan of a stack: resources, policy verdicts, monthly cost
           (slipway plan --stack dev [--format text|json|mermaid] [--project-dir .])

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
		return runPlan(args[1:], program.Build, stdout, stderr)
	// case "review": the review-stack lifecycle (branch lifecycle) plugs in here:
	//	return runReview(args[1:], program.Run, projectDir, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "slipway: unknown command %q\n\n%s", args[0], usage)
	return 2
}
