#!/usr/bin/python3
"""The host's stable release loader: /usr/local/sbin/slipway-release.

Usage: slipway-release <release-id> | boot | rollback | status | maintenance on|off

The one host script the bootstrap installs for releases, and what the foundation's host documents
run (a fixed path). Everything that can change travels with the release instead: the release
script, the secrets fetcher and the metrics publisher are files of the bundle, so a change to them
is a new release and never a new host, and never a new document.

  <release-id>  downloads that release's bundle (S3 object releases/<id>.json in the bucket named
                by <path>release/bucket), refuses it when it is not the stored release
                (<path>release/id: a newer `pulumi up` overtook this one, exit 3), writes its files
                into a new directory and runs the release's own bin/slipway-release <id> there
                (SLIPWAY_STAGED=<dir>).
  boot          the same for the stored release; without AWS (or with a broken bundle) runs the
                current release's script, which starts what ran before.
  other         run by the current release's script (rollback, status, maintenance).

Python 3 and boto3 from Ubuntu's archive (python3-boto3), as the other host scripts.
"""

import json
import os
import re
import sys
import tempfile

HOST_ENV = os.environ.get("SLIPWAY_HOST_ENV", "/etc/slipway/host.env")
ROOT = os.environ.get("SLIPWAY_RELEASES", "/var/lib/slipway/releases")
RELEASE_ID = re.compile(r"^[0-9a-f]{20}$")
# What a bundle may hold: relative paths without "..", nothing absolute.
BUNDLE_PATH = re.compile(r"^(?!.*(^|/)\.\.(/|$))[A-Za-z0-9._-][A-Za-z0-9._/-]*$")
# Files the loader runs or the release runs: executable.
EXECUTABLE = re.compile(r"^bin/")


class LoadError(Exception):
    pass


def host_env(path=HOST_ENV):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep and not key.startswith("#"):
                    out[key] = value
    except FileNotFoundError:
        pass
    return out


def stored(ssm, path):
    """The stored release id and the bundle bucket (<path>release/id, <path>release/bucket)."""
    out = {}
    for name in ("id", "bucket"):
        try:
            out[name] = ssm.get_parameter(Name=path + "release/" + name)["Parameter"]["Value"].strip()
        except Exception as e:  # boto3's ClientError, or no network
            raise LoadError("cannot read %srelease/%s: %s" % (path, name, e))
    return out["id"], out["bucket"]


def load(ssm, s3, path, root, expect_id=None):
    """Download the stored release's bundle into a new directory under root; return (id, dir)."""
    if not path.endswith("/"):
        path += "/"
    release_id, bucket = stored(ssm, path)
    if not RELEASE_ID.match(release_id):
        raise LoadError("the stored release id %r is not a release id" % release_id)
    if expect_id and release_id != expect_id:
        raise LoadError("stored release is %s, not %s: a newer release overtook this one" % (release_id, expect_id))
    key = "releases/%s.json" % release_id
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as e:
        raise LoadError("cannot read the bundle s3://%s/%s: %s" % (bucket, key, e))
    try:
        bundle = json.loads(body)
    except ValueError as e:
        raise LoadError("the bundle s3://%s/%s is not JSON: %s" % (bucket, key, e))
    if bundle.get("releaseId") != release_id:
        raise LoadError("the bundle s3://%s/%s is of release %r" % (bucket, key, bundle.get("releaseId")))
    files = bundle.get("files") or {}
    if "bin/slipway-release" not in files:
        raise LoadError("the bundle of release %s has no bin/slipway-release" % release_id)
    os.makedirs(root, mode=0o700, exist_ok=True)
    staged = tempfile.mkdtemp(prefix=".staged.", dir=root)
    for name, content in sorted(files.items()):
        if not BUNDLE_PATH.match(name) or not isinstance(content, str):
            raise LoadError("the bundle of release %s holds a file it may not: %r" % (release_id, name))
        target = os.path.join(staged, name)
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        mode = 0o755 if EXECUTABLE.match(name) else 0o644
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.chmod(target, mode)
    with open(os.path.join(staged, "id"), "w") as f:
        f.write(release_id + "\n")
    return release_id, staged


def clients(env):
    import boto3  # imported late: the unit tests pass stand-ins

    region = os.environ.get("AWS_REGION") or env.get("AWS_REGION")
    return boto3.client("ssm", region_name=region), boto3.client("s3", region_name=region)


def run_current(args, env):
    script = os.path.join(ROOT, "current", "bin", "slipway-release")
    if not os.path.exists(script):
        print("slipway-release: no release has run on this host yet (no %s)" % script, file=sys.stderr)
        return 1
    os.execve(script, [script] + args, env)


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ)
    settings = host_env()
    for k, v in settings.items():
        env.setdefault(k, v)
    env.pop("SLIPWAY_STAGED", None)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    command = args[0]
    if command != "boot" and not RELEASE_ID.match(command):
        if re.match(r"^[0-9a-f]+$", command):
            print("slipway-release: not a release id: %s" % command, file=sys.stderr)
            return 1
        return run_current(args, env)
    path = env.get("SLIPWAY_PARAMETER_PATH")
    if not path:
        print("slipway-release: SLIPWAY_PARAMETER_PATH missing in %s" % HOST_ENV, file=sys.stderr)
        return 1
    try:
        ssm, s3 = clients(env)
        release_id, staged = load(ssm, s3, path, ROOT, None if command == "boot" else command)
    except LoadError as e:
        print("slipway-release: %s" % e, file=sys.stderr)
        if command == "boot":
            return run_current(["boot"], env)
        return 3 if "overtook" in str(e) else 1
    env["SLIPWAY_STAGED"] = staged
    script = os.path.join(staged, "bin", "slipway-release")
    os.execve(script, [script, command if command == "boot" else release_id], env)


if __name__ == "__main__":
    sys.exit(main())
