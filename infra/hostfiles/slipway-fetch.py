#!/usr/bin/python3
"""Fetch the stack's current release bundle and secrets from SSM into a directory.

Usage: slipway-fetch --path /slipway/<stack>/ --out DIR [--expect-id ID]

Writes compose.yaml, app.env, .env (from compose.env), the nginx template
(proxy/templates/default.conf.template) and id from <path>release/, and one
secrets/<service>.env (mode 0600, directory 0700) per service from the
SecureString parameters <path>secrets/<service>/<KEY>. Prints the release id. Exits 3 when the stored release
is not the expected one (a newer `pulumi up` overtook this rollout).

Uses boto3 from Ubuntu's archive (python3-boto3) with the instance role;
Ubuntu 24.04 ships no awscli package.
"""

import argparse
import os
import re
import sys

BUNDLE = {
    "compose.yaml": "compose.yaml",
    "app.env": "app.env",
    "compose.env": ".env",
    "default.conf.template": "proxy/templates/default.conf.template",
    "id": "id",
}
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


def fetch(client, path, out, expect_id=None):
    if not path.endswith("/"):
        path += "/"
    release = parameters(client, path + "release/", False)
    missing = sorted(set(BUNDLE) - set(release))
    if missing:
        raise FetchError("release bundle under %srelease/ lacks %s" % (path, ", ".join(missing)))
    release_id = release["id"].strip()
    if expect_id and release_id != expect_id:
        raise FetchError("stored release is %s, not %s: a newer release overtook this one" % (release_id, expect_id))
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
    for name, filename in BUNDLE.items():
        content = release[name]
        if not content.endswith("\n"):
            content += "\n"
        write(os.path.join(out, filename), content, 0o644)
    return release_id


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--expect-id")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION"))
    args = parser.parse_args(argv)
    import boto3  # imported late: the unit test stubs it

    client = boto3.client("ssm", region_name=args.region)
    try:
        release_id = fetch(client, args.path, args.out, args.expect_id)
    except FetchError as e:
        print("slipway-fetch: %s" % e, file=sys.stderr)
        return 3
    print(release_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
