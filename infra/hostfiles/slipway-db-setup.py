#!/usr/bin/python3
"""Create or update the application's role and database on RDS (host + rds), before a cutover.

Usage: slipway-db-setup <release-dir>

Travels with a host + rds release (bin/slipway-db-setup; bin/slipway-cutover runs it first).
The release points the API and the worker at RDS, and its migration runs as the application's
own role (slipway:dbUser, never the master user), so that role must exist there first with this
release's password. In order, stopping at the first problem:

  1. reads <release-dir>/database.json (rendered by infra/release.go): RDS's address, the RDS
     master secret's ARN, the region and the host's old Postgres data directory;
  2. refuses while that directory holds a Postgres cluster that slipway-move-to-rds has not
     marked as moved to this RDS address (its MOVED-TO-RDS file): a release that serves from an
     RDS database the host's data never reached would fork prod's data. A host that never had
     a database there (a new stack on RDS) has nothing to move;
  3. reads the master user's credentials from Secrets Manager (the host role may read that one
     secret), into memory only;
  4. runs the release's db-setup service once: `docker compose run --rm --no-deps -T db-setup`
     in <release-dir>, with MASTER_USERNAME and MASTER_PASSWORD in that command's environment
     only (compose passes them to the one container, which is removed when it exits; they are
     never on a command line or in a file). The service is the ECS task's db-setup step
     (infra/cluster.go, dbSetupScript): idempotent, it creates the role (LOGIN, no superuser,
     no CREATEDB/CREATEROLE) or sets its password, and creates its database owned by it.

The last line on stderr, "slipway-db-setup: <reason>", says why it failed. Exit 0 when the role
is ready. Uses boto3 from Ubuntu's archive (python3-boto3) with the instance role.
Environment (tests): SLIPWAY_DB_SETUP_TIMEOUT (seconds for the run, default 90).
"""

import json
import os
import subprocess
import sys

SETTINGS = "database.json"
# Written by slipway-move-to-rds.sh after a verified copy; its first line is the RDS address.
MARKER = "MOVED-TO-RDS"
SERVICE = "db-setup"
TIMEOUT = int(os.environ.get("SLIPWAY_DB_SETUP_TIMEOUT", "90"))


class SetupError(Exception):
    pass


def settings(release_dir):
    try:
        with open(os.path.join(release_dir, SETTINGS)) as f:
            s = json.load(f)
    except (OSError, ValueError) as e:
        raise SetupError("release %s has no readable %s (%s): not a host + rds release"
                         % (os.path.basename(release_dir), SETTINGS, e))
    for key in ("address", "masterSecretArn", "region", "containerDataDir"):
        if not s.get(key):
            raise SetupError("%s has no %s" % (SETTINGS, key))
    return s


def container_cluster(data_dir, depth=3):
    """The directory of a Postgres cluster (its PG_VERSION file) within depth levels of
    data_dir, or None. The db image's is <data_dir>/<major>/docker (Postgres 18's layout)."""
    base = data_dir.rstrip(os.sep).count(os.sep)
    for root, dirs, files in os.walk(data_dir):
        if "PG_VERSION" in files:
            return root
        if root.rstrip(os.sep).count(os.sep) - base >= depth:
            dirs[:] = []
    return None


def check_moved(s):
    """Refuse while the host's own database holds data not moved to this RDS address."""
    data_dir = s["containerDataDir"]
    cluster = container_cluster(data_dir)
    if cluster is None:
        return "no Postgres data on this host (%s): nothing to move" % data_dir
    marker = os.path.join(data_dir, MARKER)
    try:
        with open(marker) as f:
            moved_to = f.readline().strip()
    except FileNotFoundError:
        raise SetupError("the host's own database (%s) has not been moved to RDS: run slipway-move-to-rds on the "
                         "host (docs/scaling.md, Moving the data), then pulumi up again; until then the host keeps "
                         "serving from its own database" % cluster)
    if moved_to != s["address"]:
        raise SetupError("the host's database was moved to %s (%s), but this release points at %s: refusing to serve "
                         "from a database the host's data never reached" % (moved_to or "nowhere", marker, s["address"]))
    return "the host's database was moved to %s" % moved_to


def master_credentials(s, client=None):
    if client is None:
        import boto3  # imported late: the tests stub it

        client = boto3.client("secretsmanager", region_name=s["region"])
    try:
        value = json.loads(client.get_secret_value(SecretId=s["masterSecretArn"])["SecretString"])
        return value["username"], value["password"]
    except SetupError:
        raise
    except Exception as e:  # the message names the secret, never its value
        raise SetupError("cannot read the RDS master secret %s: %s" % (s["masterSecretArn"], type(e).__name__))


def run_setup(release_dir, user, password):
    env = dict(os.environ, MASTER_USERNAME=user, MASTER_PASSWORD=password)
    try:
        p = subprocess.run(["docker", "compose", "run", "--rm", "--no-deps", "-T", SERVICE],
                           cwd=release_dir, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SetupError("db-setup did not finish within %d s (is RDS reachable from the host?)" % TIMEOUT)
    out = (p.stdout + p.stderr).strip()
    if out:
        print(out, file=sys.stderr)
    if p.returncode != 0:
        lines = [l for l in out.splitlines() if l.startswith("db-setup failed: ")]
        raise SetupError(lines[-1] if lines else "db-setup exited %d" % p.returncode)


def main(argv):
    if len(argv) != 1:
        print("usage: slipway-db-setup <release-dir>", file=sys.stderr)
        return 2
    release_dir = argv[0]
    try:
        s = settings(release_dir)
        print("slipway-db-setup: " + check_moved(s), file=sys.stderr)
        user, password = master_credentials(s)
        run_setup(release_dir, user, password)
    except SetupError as e:
        print("slipway-db-setup: %s" % e, file=sys.stderr)
        return 1
    print("slipway-db-setup: the application's role is ready on %s" % s["address"], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
