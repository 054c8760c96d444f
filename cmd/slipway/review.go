package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/internal/review"
)

const reviewUsage = `usage:
  slipway review up --pr N [--ttl 72h] [--git-sha SHA]
      create or update review stack pr-N and print its site URL
  slipway review destroy --pr N
      destroy and remove review stack pr-N (a missing stack is success)
  slipway review reap [--ttl 72h]
      destroy and remove review stacks past their TTL

The backend is PULUMI_BACKEND_URL; secrets use the backend's default provider
(PULUMI_CONFIG_PASSPHRASE for s3:// and file://). In GitHub Actions, up also
writes stack= and site-url= to $GITHUB_OUTPUT.
`

// runReview runs `slipway review <up|destroy|reap>` with the given Pulumi
// program, the directory holding Pulumi.yaml, and returns the exit code:
// 0 done, 1 failed, 2 usage error.
func runReview(args []string, program pulumi.RunFunc, projectDir string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, reviewUsage)
		return 2
	}
	// Ctrl-C or a cancelled CI job cancels the context; the Automation API
	// then stops the running pulumi command.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	l := &review.Lifecycle{Program: program, ProjectDir: projectDir, Stdout: stdout, Stderr: stderr}
	var err error
	switch args[0] {
	case "up":
		err = reviewUp(ctx, l, args[1:], projectDir, stdout, stderr)
	case "destroy":
		err = reviewDestroy(ctx, l, args[1:], stdout, stderr)
	case "reap":
		err = reviewReap(ctx, l, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, reviewUsage)
		return 0
	default:
		err = usageError(fmt.Sprintf("unknown review command %q", args[0]))
	}
	return exitCode(err, stderr)
}

// usageError marks errors in the command line, as opposed to failures.
type usageError string

func (e usageError) Error() string { return string(e) }

func exitCode(err error, stderr io.Writer) int {
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "slipway review: %v\n\n%s", err, reviewUsage)
		return 2
	default:
		fmt.Fprintf(stderr, "slipway review: %v\n", err)
		return 1
	}
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("slipway review "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses flags and rejects positional arguments, which would
// otherwise be silently ignored (`review destroy 42`).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	return nil
}

func requirePR(pr int) error {
	if pr <= 0 {
		return usageError("--pr N is required: the pull request number")
	}
	return nil
}

func reviewUp(ctx context.Context, l *review.Lifecycle, args []string, projectDir string, stdout, stderr io.Writer) error {
	fs := newFlags("up", stderr)
	pr := fs.Int("pr", 0, "pull request `number`")
	ttl := fs.Duration("ttl", review.DefaultTTL, "how long the stack may live before reap removes it")
	sha := fs.String("git-sha", "", "commit being deployed (default: $GITHUB_SHA, else git rev-parse HEAD)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := requirePR(*pr); err != nil {
		return err
	}
	if *ttl <= 0 {
		return usageError(fmt.Sprintf("--ttl must be positive, got %s", *ttl))
	}
	if *sha == "" {
		*sha = gitSHA(ctx, projectDir, stderr)
	}

	res, err := l.Up(ctx, review.UpOptions{PR: *pr, TTL: *ttl, GitSHA: *sha})
	if err != nil {
		return err
	}
	if len(res.GeneratedSecrets) > 0 {
		fmt.Fprintf(stdout, "generated secret config: %s\n", strings.Join(res.GeneratedSecrets, ", "))
	}
	if res.SiteURL == "" {
		fmt.Fprintf(stderr, "warning: stack %s exports no %s\n", res.Stack, review.SiteURLOutput)
	} else {
		fmt.Fprintf(stdout, "review stack %s is up: %s\n", res.Stack, res.SiteURL)
	}
	return writeGitHubOutputs("stack="+res.Stack, "site-url="+res.SiteURL)
}

func reviewDestroy(ctx context.Context, l *review.Lifecycle, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("destroy", stderr)
	pr := fs.Int("pr", 0, "pull request `number`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := requirePR(*pr); err != nil {
		return err
	}
	res, err := l.Destroy(ctx, *pr)
	if err != nil {
		return err
	}
	if res.Missing {
		fmt.Fprintf(stdout, "review stack %s does not exist: nothing to destroy\n", res.Stack)
	} else {
		fmt.Fprintf(stdout, "review stack %s destroyed and removed\n", res.Stack)
	}
	return nil
}

func reviewReap(ctx context.Context, l *review.Lifecycle, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reap", stderr)
	ttl := fs.Duration("ttl", review.DefaultTTL, "time to live of review stacks without a ttl tag")
	if err := parse(fs, args); err != nil {
		return err
	}
	report, err := l.Reap(ctx, *ttl)
	fmt.Fprintf(stdout, "reap: %d destroyed, %d kept, %d skipped, %d failed\n",
		len(report.Destroyed), len(report.Kept), len(report.Skipped), len(report.Failed))
	return err
}

// gitSHA names the commit being deployed for the git-sha tag. A missing
// SHA only weakens the tag, so it warns instead of failing the deploy.
func gitSHA(ctx context.Context, dir string, stderr io.Writer) string {
	if sha := os.Getenv("GITHUB_SHA"); sha != "" {
		return sha
	}
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		fmt.Fprintf(stderr, "warning: cannot tell the git commit (%v); tagging git-sha=unknown\n", err)
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// writeGitHubOutputs hands key=value lines to later workflow steps when
// running in GitHub Actions ($GITHUB_OUTPUT names the file); outside Actions
// it does nothing.
func writeGitHubOutputs(lines ...string) error {
	path := os.Getenv("GITHUB_OUTPUT")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open $GITHUB_OUTPUT: %w", err)
	}
	for _, line := range lines {
		if _, err := fmt.Fprintln(f, line); err != nil {
			f.Close()
			return fmt.Errorf("write $GITHUB_OUTPUT: %w", err)
		}
	}
	return f.Close()
}
