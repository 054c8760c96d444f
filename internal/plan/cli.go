package plan

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Command is `slipway plan` (cmd/slipway dispatches to it). It returns the
// exit code: 0 when every error-severity rule passes, 1 when one fails (or
// the program fails under mocks), 2 on bad flags or bad config.
func Command(args []string, build Build, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("slipway plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", "", "stack to plan: dev, prod or pr-<n> (a name without a stack file is a review stack); with --project foundation, a foundation stack (dev, prod, single)")
	project := fs.String("project", "app", "project to plan: app (the Slipway stacks) or foundation (foundation/, one stack per account)")
	format := fs.String("format", "text", "output: text, json (pulumi stack export shape) or mermaid")
	dir := fs.String("project-dir", ".", "directory holding Pulumi.yaml")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: slipway plan [--project app|foundation] --stack <dev|prod|pr-N|foundation stack> [--format text|json|mermaid] [--project-dir .]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "slipway plan: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *stack == "" {
		fmt.Fprintln(stderr, "slipway plan: --stack is required (dev, prod or pr-<number>)")
		return 2
	}
	if *format != "text" && *format != "json" && *format != "mermaid" {
		fmt.Fprintf(stderr, "slipway plan: --format %q is not accepted: expected text, json or mermaid\n", *format)
		return 2
	}
	var p *Plan
	var err error
	switch *project {
	case "app":
		p, err = Run(build, *dir, *stack)
	case "foundation":
		p, err = RunFoundation(*dir, *stack)
	default:
		fmt.Fprintf(stderr, "slipway plan: --project %q is not accepted: expected app or foundation\n", *project)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "slipway plan: %v\n", err)
		if IsConfigError(err) {
			return 2
		}
		return 1
	}
	switch *format {
	case "json":
		err = p.WriteJSON(stdout)
	case "mermaid":
		err = p.WriteMermaid(stdout)
	default:
		err = p.WriteText(stdout, Style{Color: ColorFor(stdout)})
	}
	if err != nil {
		fmt.Fprintf(stderr, "slipway plan: %v\n", err)
		return 1
	}
	if p.Failed() {
		fmt.Fprintf(stderr, "slipway plan: %d error-severity policy rule(s) failed on stack %s\n", p.Summary.FailedErrors, p.Stack)
		return 1
	}
	return 0
}

// ColorFor reports whether w is a terminal and NO_COLOR is unset
// (https://no-color.org: any non-empty value disables colour).
func ColorFor(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
