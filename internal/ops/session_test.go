package ops

// shell and psql: the host check (DescribeInstanceInformation) runs
// against the fake (fakeaws); Session Manager itself is out of reach
// here (no emulator speaks it, and it needs a real host), so the AWS CLI
// and the session-manager-plugin are stand-in scripts on PATH that record
// how they were called. What runs on a real host is not verified here.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTools puts stand-ins for the given tools first on PATH; the aws one
// writes its arguments, one per line, to the returned file.
func fakeTools(t *testing.T, tools ...string) string {
	t.Helper()
	dir := t.TempDir()
	record := filepath.Join(dir, "aws-args")
	for _, tool := range tools {
		script := "#!/bin/sh\nexit 0\n"
		if tool == "aws" {
			script = "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '" + record + "'\n"
		}
		if err := os.WriteFile(filepath.Join(dir, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir) // only the stand-ins: the scripts name /bin/sh themselves
	return record
}

func recorded(t *testing.T, record string) []string {
	t.Helper()
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("the aws stand-in was not run: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestFakeSSMShellStartsASessionOnTheInstance(t *testing.T) {
	f, r := newFakeOps(t, "dev")
	record := fakeTools(t, "aws", "session-manager-plugin")
	if err := r.ops.Shell(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(recorded(t, record), " ")
	if got != "ssm start-session --target "+testInstance+" --region us-east-1" {
		t.Errorf("aws %s", got)
	}
	if len(f.Sent("DescribeInstanceInformation")) != 1 || len(f.Sent("SendCommand")) != 0 {
		t.Errorf("calls: %v", f.Requests())
	}
}

func TestFakeSSMPsqlRunsPsqlInTheDbContainerAsTheAppRole(t *testing.T) {
	_, r := newFakeOps(t, "prod")
	record := fakeTools(t, "aws", "session-manager-plugin")
	if err := r.ops.Psql(context.Background()); err != nil {
		t.Fatal(err)
	}
	args := recorded(t, record)
	want := []string{"ssm", "start-session", "--target", testInstance, "--region", "us-east-1", "--document-name", "AWS-StartInteractiveCommand", "--parameters"}
	if len(args) != len(want)+1 || strings.Join(args[:len(want)], " ") != strings.Join(want, " ") {
		t.Fatalf("aws %q", args)
	}
	var params map[string][]string
	if err := json.Unmarshal([]byte(args[len(want)]), &params); err != nil {
		t.Fatalf("--parameters is not JSON: %v", err)
	}
	cmd := strings.Join(params["command"], "")
	for _, part := range []string{"label=com.docker.compose.service=db", "psql -h 127.0.0.1", `-U "$DATABASE_USER"`, `-d "$DATABASE_NAME"`} {
		if !strings.Contains(cmd, part) {
			t.Errorf("the psql command lacks %q: %s", part, cmd)
		}
	}
	if strings.Contains(cmd, "-U postgres") {
		t.Error("psql connects as the superuser")
	}
}

func TestSessionToolsMissingAreNamed(t *testing.T) {
	for _, missing := range SessionTools {
		t.Run(missing, func(t *testing.T) {
			f, r := newFakeOps(t, "dev")
			var present []string
			for _, tool := range SessionTools {
				if tool != missing {
					present = append(present, tool)
				}
			}
			fakeTools(t, present...)
			err := r.ops.Shell(context.Background())
			if !errors.Is(err, ErrMissingTool) || !strings.Contains(err.Error(), missing+" is not on PATH") ||
				!strings.Contains(err.Error(), "session-manager-plugin") || !strings.Contains(err.Error(), "AWS CLI") {
				t.Fatalf("err = %v", err)
			}
			if len(f.Requests()) != 0 {
				t.Error("AWS was called although no session could be opened")
			}
		})
	}
}

func TestFakeSSMShellToAHostThatDoesNotAnswer(t *testing.T) {
	f, r := newFakeOps(t, "dev")
	f.Instances[testInstance] = "Inactive"
	record := fakeTools(t, "aws", "session-manager-plugin")
	err := r.ops.Psql(context.Background())
	if !errors.Is(err, ErrHostUnreachable) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(record); err == nil {
		t.Error("a session was started to a host that does not answer")
	}
}
