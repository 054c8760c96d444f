package foundation

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// The host documents: every SSM Command document that runs as root on a
// Slipway host. They live in the foundation, one set per environment class,
// and CI can only run them, never create or change them.
//
// Why the document is the boundary: for ssm:CreateAssociation and
// ssm:SendCommand with Targets, IAM authorizes the document and the
// association, never the instances the targets name (the instance ARN is
// evaluated only for the deprecated InstanceId parameter; AWS, "Working with
// associations using IAM" and the SendCommand authorization reference). So a
// policy can say "dev's CI may run slipway-dev-rollout" but cannot say "only
// on dev's hosts": any identity that may run a document may aim it at any
// instance in the account. Therefore:
//   - the environment class is fixed inside the document (a literal in its
//     script, not a parameter an attacker could set);
//   - every parameter has an allowedPattern, so nothing but a release id or
//     a stack name of the class reaches the script;
//   - the script's first act, before anything else runs, reads the host's own
//     `stack` tag from the instance metadata (IMDSv2, instance-metadata tags;
//     the host enables them) and refuses, non-zero, on a host that is not of
//     its class (review: also not the stack the caller named);
//   - CI roles may run only their own class's documents (the foundation's
//     policies scope the document ARN) and no CI role may create, update or
//     delete a document.
// dev's CI aiming slipway-dev-rollout at the prod host therefore fails on the
// prod host, before the release script is touched. The guard is the first
// part of the one step rather than a step of its own so that a refusal
// cannot be followed by a later step under any step-failure semantics.

// documentClasses are the environment classes (dev, review,
// prod; a class is the app stacks' profile, stacks.ProfileOf).
var documentClasses = []stacks.Profile{stacks.Dev, stacks.Review, stacks.Prod}

// The kinds of host document, each one entry of hostDocuments.
const (
	DocumentRollout     = "rollout"
	DocumentRollback    = "rollback"
	DocumentStatus      = "status"
	DocumentMaintenance = "maintenance"
)

// BootstrapMarker is the file the host's bootstrap writes as its very last
// act, once Docker runs, the data volume is mounted and the release loader
// is installed (infra/bootstrap.go). The rollout waits for it: a signal,
// not a guess, and a host that never gets there fails the rollout, naming
// the file, instead of "trying anyway".
const BootstrapMarker = "/var/lib/slipway/bootstrapped"

// ReportedFailure is the release script's exit code for "the release failed
// and the host wrote a receipt saying why" (infra/hostfiles/slipway-release.sh).
// The rollout document turns it into success: the association only says
// that the rollout ran to its end, and `pulumi up` reads the receipt and
// fails with the host's reason (infra/release.go). Any other non-zero code
// (no receipt could be written) fails the document, and so the association.
const ReportedFailure = 10

// AttemptPattern is the format of the rollout's attempt counter (a retry
// of a failed release with no change to it is attempt 2, 3, ...).
const AttemptPattern = "^[0-9]{1,6}$"

// MaintenanceModePattern: the maintenance document turns the flag on or off.
const MaintenanceModePattern = "^(on|off)$"

// ReleaseScript is where the host's bootstrap (infra.ReleaseBootstrap)
// installs the release script the documents run.
const ReleaseScript = "/usr/local/sbin/slipway-release"

// ReleaseIDPattern is the format of a release id (infra's releaseID: the
// first 20 hex digits of a SHA-256), the rollout's allowedPattern.
const ReleaseIDPattern = "^[0-9a-f]{20}$"

// The rollout's time budget, in seconds: one set of numbers for the
// documents, the release script (the documents pass them; the script's
// defaults, used at boot, are the same) and `pulumi up`'s wait, so SSM never
// kills the script mid-rollback and `pulumi up` never gives up on a rollout
// that is still running. infra/release_budget_test.go checks the relation on
// the rendered documents and the script.
const (
	// GuardWait bounds the class check: two IMDS requests, each at most
	// three attempts of 5 s with 1 s between them.
	GuardWait = 40
	// HostReadyWait: a brand-new host may be reached by SSM before its
	// bootstrap has finished (BootstrapMarker).
	HostReadyWait = 300
	// PullTimeout bounds `docker compose pull` (three images at most change).
	PullTimeout = 240
	// UpWait bounds one `docker compose up --wait`: the health chain
	// db -> api -> worker/proxy is about 90 s when healthy, and an unhealthy
	// API is reported after start_period + retries x interval (about 65 s).
	UpWait = 240
	// The zero-downtime cutover (hostfiles/slipway-cutover.sh), which brings
	// a release up: MigrateTimeout bounds its migration run, SettleSeconds
	// is its pause after traffic moves, CutoverUps counts its `up --wait`
	// calls (every one in the script, the exclusive failure and success
	// paths together: an over-estimate, never an under-estimate).
	MigrateTimeout = 240
	SettleSeconds  = 2
	CutoverUps     = 6
	// APIStopGrace is the API slots' stop_grace_period (app/compose.yaml):
	// the old slot drains. WorkerStopGraceMax is the worker's at the
	// largest slipway:workerTimeoutSeconds (900) plus its margin (15).
	APIStopGrace       = 30
	WorkerStopGraceMax = 900 + 15
	// DBSetupWait bounds a host + rds release's db-setup before its
	// cutover (hostfiles/slipway-db-setup.py: its run, 90 s, plus the master
	// secret's read). It has no term of its own in CutoverWait: no run of
	// the cutover reaches all CutoverUps of its `up --wait` calls (the
	// success path runs five, a failure at most five), so the sixth's UpWait
	// covers it (release_budget_test.go holds DBSetupWait <= UpWait).
	DBSetupWait = 90 + 30
	// CutoverWait is one cutover's worst case.
	CutoverWait = CutoverUps*UpWait + MigrateTimeout + SettleSeconds + APIStopGrace + WorkerStopGraceMax
	// RolloutWork is one rollout's worst case: pull, the release's cutover,
	// the rollback's cutover.
	RolloutWork = PullTimeout + 2*CutoverWait
	// LockWait: the boot unit may be running a whole rollout when SSM
	// arrives on a new host (plus its fetch).
	LockWait = RolloutWork + 60
	// RolloutTimeout is the rollout document's timeout: everything above,
	// plus a margin for fetching and logging.
	RolloutTimeout = GuardWait + HostReadyWait + LockWait + RolloutWork + 120
	// RollbackTimeout: the lock, one cutover to the previous release, margin.
	RollbackTimeout = GuardWait + LockWait + CutoverWait + 120
	// StatusTimeout: status and maintenance take no lock (they never wait
	// behind a rollout); a few docker compose calls.
	StatusTimeout = GuardWait + 60
)

// documentStackPatterns is the allowedPattern of each class's `stack`
// parameter, and what the host's `stack` tag must match.
var documentStackPatterns = map[stacks.Profile]string{
	stacks.Dev:    "^dev$",
	stacks.Review: "^pr-[0-9]+$",
	stacks.Prod:   "^prod$",
}

// HostDocumentName is the fixed physical name of a class's document of a
// kind: slipway-<class>-<kind>. A foundation is one per account, so the
// names cannot collide; app stacks derive them and create none.
func HostDocumentName(class stacks.Profile, kind string) string {
	return "slipway-" + string(class) + "-" + kind
}

func docClassNames() string {
	names := make([]string, len(documentClasses))
	for i, c := range documentClasses {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

// docParam is one document parameter (beyond `stack`, which every host
// document has).
type docParam struct {
	name, description, pattern string
	// def is the default ("" for none: the caller must pass it).
	def string
}

// hostDocument is one kind of host document: what it runs after the guard.
type hostDocument struct {
	kind        string
	description string
	// timeout bounds the document's one step, guard included.
	timeout int
	params  []docParam
	// commands run as root (POSIX sh) once the guard has passed.
	commands []string
}

// hostDocuments are the kinds every class gets.
var hostDocuments = []hostDocument{
	{
		kind:        DocumentRollout,
		description: "Roll the Slipway compose stack out to a release (health-gated, rolls back on failure).",
		timeout:     RolloutTimeout,
		params: []docParam{
			{"releaseId", "The release to roll out (the stack output releaseId).", ReleaseIDPattern, ""},
			{"attempt", "Which attempt at this release (a retry of a failed release is the next attempt).", AttemptPattern, "1"},
		},
		commands: []string{
			// Bounded, and a failure: a host whose bootstrap never
			// finishes has nothing a rollout could run on.
			fmt.Sprintf("timeout %d sh -c 'until [ -e %s ]; do sleep 5; done' || "+
				"{ echo \"$doc_name: the host's bootstrap has not finished after %d s (no %s); see /var/log/cloud-init-output.log on the host\" >&2; exit 1; }",
				HostReadyWait, BootstrapMarker, HostReadyWait, BootstrapMarker),
			fmt.Sprintf("export SLIPWAY_LOCK_WAIT=%d SLIPWAY_PULL_TIMEOUT=%d SLIPWAY_WAIT_TIMEOUT=%d SLIPWAY_MIGRATE_TIMEOUT=%d SLIPWAY_SETTLE_SECONDS=%d SLIPWAY_ATTEMPT='{{ attempt }}'",
				LockWait, PullTimeout, UpWait, MigrateTimeout, SettleSeconds),
			"rc=0",
			ReleaseScript + " '{{ releaseId }}' || rc=$?",
			fmt.Sprintf("if [ \"$rc\" -eq %d ]; then echo \"$doc_name: release {{ releaseId }} failed on the host, which rolled back and wrote its receipt; pulumi up reports the reason\" >&2; exit 0; fi", ReportedFailure),
			`exit "$rc"`,
		},
	},
	{
		kind:        DocumentRollback,
		description: "Bring the Slipway compose stack back to the release before the current one (health-gated).",
		timeout:     RollbackTimeout,
		commands: []string{
			fmt.Sprintf("export SLIPWAY_LOCK_WAIT=%d SLIPWAY_WAIT_TIMEOUT=%d SLIPWAY_MIGRATE_TIMEOUT=%d SLIPWAY_SETTLE_SECONDS=%d", LockWait, UpWait, MigrateTimeout, SettleSeconds),
			"exec " + ReleaseScript + " rollback",
		},
	},
	{
		kind:        DocumentStatus,
		description: "Print the Slipway host's current and previous release, each service's health and the image digests (JSON).",
		timeout:     StatusTimeout,
		commands:    []string{"exec " + ReleaseScript + " status"},
	},
	{
		kind:        DocumentMaintenance,
		description: "Turn the Slipway maintenance page on or off (nginx answers 503 with Retry-After; health endpoints are unaffected).",
		timeout:     StatusTimeout,
		params:      []docParam{{"mode", "on or off.", MaintenanceModePattern, ""}},
		commands:    []string{"exec " + ReleaseScript + " maintenance '{{ mode }}'"},
	},
}

// HostDocumentKinds lists the kinds of host document each class gets (for
// the foundation's policies, which scope CI to a class's documents).
func HostDocumentKinds() []string {
	out := make([]string, len(hostDocuments))
	for i, d := range hostDocuments {
		out[i] = d.kind
	}
	return out
}

// docClassTest is a POSIX sh condition that holds when the variable v is a
// stack name of the class: an exact string or case match, so no newline or
// other character can slip through as it could through a line-based grep.
func docClassTest(class stacks.Profile, v string) string {
	if class == stacks.Review {
		return `case "$` + v + `" in pr- | pr-*[!0-9]*) false ;; pr-*) true ;; *) false ;; esac`
	}
	return `[ "$` + v + `" = '` + string(class) + `' ]`
}

// docGuard is the check every host document runs first: the host's own
// `stack` tag, read from the instance metadata with IMDSv2, must be of the
// document's class and equal the stack the caller named (for dev and prod
// the parameter's pattern admits only the one name). The class is a literal
// here. The `stack` parameter reaches the script only through its
// allowedPattern ([a-z0-9-]), so single quotes are enough; the script checks
// it again rather than rely on that.
func docGuard(class stacks.Profile, kind string) []string {
	name := HostDocumentName(class, kind)
	return []string{
		"set -eu",
		"doc_class='" + string(class) + "'",
		"doc_name='" + name + "'",
		"doc_stack='{{ stack }}'",
		`refuse() { echo "$doc_name: refused: $*" >&2; exit 1; }`,
		docClassTest(class, "doc_stack") + ` || refuse "stack '$doc_stack' is not a stack of class $doc_class"`,
		// Each request: at most three attempts of 5 s (GuardWait).
		`imds() { curl --silent --show-error --fail --connect-timeout 2 --max-time 5 --retry 2 --retry-delay 1 "$@"; }`,
		`imds_token="$(imds -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)" || ` +
			`refuse "cannot get an IMDSv2 token from the instance metadata service"`,
		`host_stack="$(imds -H "X-aws-ec2-metadata-token: $imds_token" http://169.254.169.254/latest/meta-data/tags/instance/stack)" || ` +
			`refuse "cannot read this host's stack tag from the instance metadata (are instance-metadata tags enabled on the host?)"`,
		docClassTest(class, "host_stack") + ` || refuse "this host's stack tag is '$host_stack', not a stack of class $doc_class"`,
		`[ "$host_stack" = "$doc_stack" ] || ` +
			`refuse "this host's stack tag is '$host_stack', but the command was for stack '$doc_stack'"`,
		`echo "` + name + `: host of stack $host_stack (class $doc_class)" >&2`,
	}
}

// HostDocumentContent renders a class's document of a kind (JSON, schema
// 2.2): the guard, then the kind's commands, in one aws:runShellScript step.
func HostDocumentContent(class stacks.Profile, kind string) (string, error) {
	pattern, ok := documentStackPatterns[class]
	if !ok {
		return "", fmt.Errorf("host documents: class %q: accepted are %s", class, docClassNames())
	}
	var d *hostDocument
	for i := range hostDocuments {
		if hostDocuments[i].kind == kind {
			d = &hostDocuments[i]
		}
	}
	if d == nil {
		return "", fmt.Errorf("host documents: kind %q: accepted are %s", kind, strings.Join(HostDocumentKinds(), ", "))
	}
	params := map[string]any{
		"stack": map[string]any{
			"type":           "String",
			"description":    "The stack the host must carry as its stack tag (class " + string(class) + ").",
			"allowedPattern": pattern,
		},
	}
	for _, p := range d.params {
		param := map[string]any{"type": "String", "description": p.description, "allowedPattern": p.pattern}
		if p.def != "" {
			param["default"] = p.def
		}
		params[p.name] = param
	}
	doc := map[string]any{
		"schemaVersion": "2.2",
		"description":   "Slipway " + string(class) + ": " + d.description + " Runs only on a host whose stack tag is of class " + string(class) + ".",
		"parameters":    params,
		"mainSteps": []any{map[string]any{
			"action": "aws:runShellScript",
			"name":   kind,
			"inputs": map[string]any{
				"timeoutSeconds": strconv.Itoa(d.timeout),
				"runCommand":     append(docGuard(class, kind), d.commands...),
			},
		}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	return string(b), err
}

// HostDocumentsArgs chooses the environment class whose documents to create.
type HostDocumentsArgs struct {
	// Class is dev, review or prod.
	Class stacks.Profile
}

// HostDocuments are one class's host documents.
type HostDocuments struct {
	pulumi.ResourceState

	// Names and Arns of the documents, by kind (rollout, rollback, status,
	// maintenance).
	Names pulumi.StringMapOutput
	Arns  pulumi.StringMapOutput
}

// NewHostDocuments creates the class's host documents under their fixed
// names (slipway-<class>-<kind>).
func NewHostDocuments(ctx *pulumi.Context, name string, args HostDocumentsArgs, opts ...pulumi.ResourceOption) (*HostDocuments, error) {
	if _, ok := documentStackPatterns[args.Class]; !ok {
		return nil, fmt.Errorf("host documents %s: class %q: accepted are %s", name, args.Class, docClassNames())
	}
	h := &HostDocuments{}
	if err := ctx.RegisterComponentResource("slipway:foundation:HostDocuments", name, h, opts...); err != nil {
		return nil, err
	}
	names, arns := pulumi.StringMap{}, pulumi.StringMap{}
	for _, d := range hostDocuments {
		content, err := HostDocumentContent(args.Class, d.kind)
		if err != nil {
			return nil, err
		}
		// A fixed name, since app stacks and CI policies refer to it by
		// convention; replaced (should a property ever force it) by
		// deleting first, as two documents cannot share the name.
		// The logical name carries the component's: URNs name the
		// parent's type, not its name, and one foundation may host
		// several classes.
		doc, err := ssm.NewDocument(ctx, name+"-"+d.kind, &ssm.DocumentArgs{
			Name:           pulumi.String(HostDocumentName(args.Class, d.kind)),
			DocumentType:   pulumi.String("Command"),
			DocumentFormat: pulumi.String("JSON"),
			TargetType:     pulumi.String("/AWS::EC2::Instance"),
			Content:        pulumi.String(content),
		}, pulumi.Parent(h), pulumi.DeleteBeforeReplace(true))
		if err != nil {
			return nil, err
		}
		names[d.kind] = doc.Name
		arns[d.kind] = doc.Arn
	}
	h.Names = names.ToStringMapOutput()
	h.Arns = arns.ToStringMapOutput()
	return h, ctx.RegisterResourceOutputs(h, pulumi.Map{"names": h.Names, "arns": h.Arns})
}
