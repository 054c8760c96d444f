"""Unit tests of hostfiles/slipway-fetch.py with a stubbed SSM client (no boto3 needed)."""

import importlib.util
import os
import stat
import sys
import tempfile
import unittest

spec = importlib.util.spec_from_file_location("slipway_fetch", os.environ.get("SLIPWAY_FETCH", "hostfiles/slipway-fetch.py"))
fetch_mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fetch_mod)


class StubSSM:
    """get_parameters_by_path over a dict, one parameter per page (to exercise paging)."""

    def __init__(self, params):
        self.params = params
        self.calls = []

    def get_parameters_by_path(self, Path, Recursive, WithDecryption, NextToken=None):
        self.calls.append((Path, WithDecryption))
        names = sorted(n for n in self.params if n.startswith(Path) and "/" not in n[len(Path):])
        start = int(NextToken or 0)
        page = {"Parameters": [{"Name": n, "Value": self.params[n]} for n in names[start:start + 1]]}
        if start + 1 < len(names):
            page["NextToken"] = str(start + 1)
        return page


def bundle(**extra):
    p = {
        "/slipway/dev/release/compose.yaml": "name: slipway\n",
        "/slipway/dev/release/app.env": "PORT=3000",
        "/slipway/dev/release/compose.env": "# compose\n",
        "/slipway/dev/release/id": "0123456789abcdef0123",
        "/slipway/dev/secrets/DATABASE_PASSWORD": "pa$$word",
        "/slipway/dev/secrets/ORIGIN_HEADER_VALUE": "origin",
    }
    p.update(extra)
    return p


class FetchTest(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp()

    def test_writes_bundle_and_root_only_secrets(self):
        ssm = StubSSM(bundle())
        rid = fetch_mod.fetch(ssm, "/slipway/dev/", self.out, "0123456789abcdef0123")
        self.assertEqual(rid, "0123456789abcdef0123")
        self.assertEqual(sorted(os.listdir(self.out)), [".env", "app.env", "compose.yaml", "id", "secrets.env"])
        with open(os.path.join(self.out, "app.env")) as f:
            self.assertEqual(f.read(), "PORT=3000\n")
        with open(os.path.join(self.out, "secrets.env")) as f:
            # single quotes: compose must not interpolate the $ in a secret
            self.assertEqual(f.read(), "DATABASE_PASSWORD='pa$$word'\nORIGIN_HEADER_VALUE='origin'\n")
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.out, "secrets.env")).st_mode), 0o600)
        # secrets are decrypted, the bundle is read without decryption
        self.assertIn(("/slipway/dev/secrets/", True), ssm.calls)
        self.assertIn(("/slipway/dev/release/", False), ssm.calls)

    def test_refuses_an_overtaken_release(self):
        with self.assertRaises(fetch_mod.FetchError):
            fetch_mod.fetch(StubSSM(bundle()), "/slipway/dev/", self.out, "ffffffffffffffffffff")
        self.assertEqual(os.listdir(self.out), [])

    def test_refuses_an_incomplete_bundle(self):
        p = bundle()
        del p["/slipway/dev/release/app.env"]
        with self.assertRaises(fetch_mod.FetchError):
            fetch_mod.fetch(StubSSM(p), "/slipway/dev/", self.out)

    def test_refuses_a_secret_env_files_cannot_hold(self):
        p = bundle(**{"/slipway/dev/secrets/DD_API_KEY": "it's"})
        with self.assertRaises(fetch_mod.FetchError):
            fetch_mod.fetch(StubSSM(p), "/slipway/dev/", self.out)


if __name__ == "__main__":
    unittest.main()
