"""Runs the real hostfiles/slipway-fetch.py against an SSM stand-in given as JSON on stdin.

Usage: python3 fetch_values.py OUT_DIR < {"/slipway/dev/secrets/db/POSTGRES_PASSWORD": "...", ...}
Prints the services whose secrets it wrote (exit 0) or the fetcher's refusal (exit 3). Used by the Go
tests that feed the same values through stacks and through the fetcher.
"""

import importlib.util
import json
import os
import sys

spec = importlib.util.spec_from_file_location("slipway_fetch", os.environ.get("SLIPWAY_FETCH", "hostfiles/slipway-fetch.py"))
fetch_mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fetch_mod)


class StubSSM:
    def __init__(self, params):
        self.params = params

    def get_parameters_by_path(self, Path, Recursive, WithDecryption, NextToken=None):
        names = sorted(n for n in self.params if n.startswith(Path) and (Recursive or "/" not in n[len(Path):]))
        return {"Parameters": [{"Name": n, "Value": self.params[n]} for n in names]}


def main():
    params = json.load(sys.stdin)
    try:
        print(fetch_mod.fetch(StubSSM(params), "/slipway/dev/", sys.argv[1]))
    except fetch_mod.FetchError as e:
        print("slipway-fetch: %s" % e, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
