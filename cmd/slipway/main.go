// Command slipway is the operator's tool: review stacks per pull request
// (create, destroy, reap) on the real Pulumi engine.
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
  review up|destroy|reap   review stacks per pull request (slipway review help)
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "review":
		dir, err := projectDir()
		if err != nil {
			fmt.Fprintln(stderr, "slipway:", err)
			return 2
		}
		return runReview(args[1:], program.Run, dir, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "slipway: unknown command %q\n%s", args[0], usage)
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
