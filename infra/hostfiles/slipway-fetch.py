#!/usr/bin/python3
"""Fetch a release's secrets from SSM into its directory, and write the rollout's receipt.

Usage: slipway-fetch --path /slipway/<stack>/ --out DIR
       slipway-fetch --path /slipway/<stack>/ --receipt ID --status healthy|failed --attempt N
                     [--service NAME] [--reason TEXT]   (log lines on stdin)

Travels with the release (bin/slipway-fetch of the bundle; the loader, slipway-load.py, wrote the
bundle's other files). Writes one secrets/<service>.env (mode 0600, directory 0700) per service
from the SecureString parameters <path>secrets/<service>/<KEY>.

With --receipt it writes the rollout's receipt instead: the String parameter <path>receipts/<ID>,
JSON (releaseId, status, attempt, service, reason, logs), trimmed to fit a standard-tier parameter
by dropping the oldest log lines first; `pulumi up` reads it back (infra/release.go).

Uses boto3 from Ubuntu's archive (python3-boto3) with the instance role;
Ubuntu 24.04 ships no awscli package.
"""

import argparse
import json
import os
import re
import sys

# <service>/<KEY> below <path>secrets/ (the layout infra/release.go writes).
SECRET_NAME = re.compile(r"^([a-z0-9][a-z0-9-]*)/([A-Z_][A-Z0-9_]*)$")
# What a secret may hold: stacks.SecretValue, the one definition (Go), which
# refuses anything else before `pulumi up` stores it; a test keeps this copy
# identical. Printable ASCII but the single quote, written inside single
# quotes, which docker compose reads literally.
SECRET_VALUE = re.compile(r"^[\x20-\x26\x28-\x7e]+$")


class FetchError(Exception):
    pass


def parameters(client, path, decrypt, recursive=False):
    """All parameters below path (directly, unless recursive), as {name relative to path: value}."""
    out = {}
    kwargs = {"Path": path, "Recursive": recursive, "WithDecryption": decrypt}
    while True:
        page = client.get_parameters_by_path(**kwargs)
        for p in page.get("Parameters", []):
            out[p["Name"][len(path):]] = p["Value"]
        token = page.get("NextToken")
        if not token:
            return out
        kwargs["NextToken"] = token


def secret_line(key, value):
    # Single quotes: compose reads the value literally (no $ interpolation).
    # The value itself never reaches the message.
    if not SECRET_VALUE.match(value):
        raise FetchError("secret %s holds a character an env file cannot carry literally "
                         "(accepted: printable ASCII other than the single quote)" % key)
    return "%s='%s'\n" % (key, value)


def write(path, content, mode):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    os.chmod(path, mode)


def fetch(client, path, out):
    """Write the release's secrets below out/secrets; nothing is written when one is refused."""
    if not path.endswith("/"):
        path += "/"
    secrets = parameters(client, path + "secrets/", True, recursive=True)
    if not secrets:
        raise FetchError("no secrets under %ssecrets/" % path)
    files = {}
    for name in sorted(secrets):
        m = SECRET_NAME.match(name)
        if not m:
            raise FetchError("secret %ssecrets/%s is not named <service>/<KEY>" % (path, name))
        files.setdefault(m.group(1), []).append(secret_line(m.group(2), secrets[name]))
    secrets_dir = os.path.join(out, "secrets")
    os.makedirs(secrets_dir, mode=0o700, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    for service, lines in files.items():
        write(os.path.join(secrets_dir, service + ".env"), "".join(lines), 0o600)
    return sorted(files)


# A receipt fits a standard-tier parameter (free), whatever the logs hold.
RECEIPT_LIMIT = 4096
RECEIPT_STATUS = ("healthy", "failed")
LOG_LINE_LIMIT = 300


def receipt_value(release_id, status, attempt, service, reason, logs):
    """The receipt's JSON, at most RECEIPT_LIMIT bytes: long lines cut, then the oldest lines dropped."""
    if status not in RECEIPT_STATUS:
        raise FetchError("receipt status %r: accepted are %s" % (status, ", ".join(RECEIPT_STATUS)))
    lines = [l[:LOG_LINE_LIMIT] for l in logs.splitlines() if l.strip()]
    doc = {"releaseId": release_id, "status": status, "attempt": attempt,
           "service": service or "", "reason": (reason or "")[:1000], "logs": lines}
    while True:
        value = json.dumps(doc, sort_keys=True)
        if len(value.encode("utf-8")) <= RECEIPT_LIMIT:
            return value
        if not doc["logs"]:
            doc["reason"] = doc["reason"][: len(doc["reason"]) // 2]
            continue
        doc["logs"] = doc["logs"][1:]


# Receipts kept: `pulumi up` reads them all (by path) twice per run, so they must not pile up.
RECEIPTS_KEPT = 20


def put_receipt(client, path, release_id, status, attempt, service, reason, logs):
    if not path.endswith("/"):
        path += "/"
    if not re.match(r"^[0-9a-f]{20}$", release_id):
        raise FetchError("not a release id: %r" % release_id)
    name = path + "receipts/" + release_id
    client.put_parameter(Name=name, Value=receipt_value(release_id, status, attempt, service, reason, logs),
                         Type="String", Tier="Standard", Overwrite=True)
    try:
        prune_receipts(client, path, keep=name)
    except Exception as e:  # best effort: the receipt is written, which is what counts
        print("slipway-fetch: could not remove old receipts: %s" % e, file=sys.stderr)
    return name


def prune_receipts(client, path, keep):
    """Delete all but the newest RECEIPTS_KEPT receipts (never `keep`, the one just written)."""
    found = []
    kwargs = {"Path": path + "receipts/", "Recursive": False}
    while True:
        page = client.get_parameters_by_path(**kwargs)
        found += page.get("Parameters", [])
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    found.sort(key=lambda p: str(p.get("LastModifiedDate", "")), reverse=True)
    old = [p["Name"] for p in found if p["Name"] != keep][RECEIPTS_KEPT - 1:]
    for i in range(0, len(old), 10):  # DeleteParameters takes at most 10 names
        client.delete_parameters(Names=old[i:i + 10])
    return old


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True)
    parser.add_argument("--out")
    parser.add_argument("--receipt", metavar="ID")
    parser.add_argument("--status")
    parser.add_argument("--attempt")
    parser.add_argument("--service")
    parser.add_argument("--reason")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION"))
    args = parser.parse_args(argv)
    import boto3  # imported late: the unit test stubs it

    client = boto3.client("ssm", region_name=args.region)
    if args.receipt:
        try:
            print(put_receipt(client, args.path, args.receipt, args.status, args.attempt or "",
                              args.service, args.reason, sys.stdin.read()))
        except FetchError as e:
            print("slipway-fetch: %s" % e, file=sys.stderr)
            return 3
        return 0
    if not args.out:
        parser.error("--out is required")
    try:
        fetch(client, args.path, args.out)
    except FetchError as e:
        print("slipway-fetch: %s" % e, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
