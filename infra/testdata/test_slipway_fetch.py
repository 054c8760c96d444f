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
        names = sorted(n for n in self.params if n.startswith(Path) and (Recursive or "/" not in n[len(Path):]))
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
        "/slipway/dev/release/default.conf.template": "upstream api { server ${API_UPSTREAM}; }\n",
        "/slipway/dev/release/id": "0123456789abcdef0123",
        "/slipway/dev/secrets/db/POSTGRES_PASSWORD": "pa$$word",
        "/slipway/dev/secrets/api/DATABASE_PASSWORD": "pa$$word",
        "/slipway/dev/secrets/proxy/ORIGIN_HEADER_VALUE": "origin",
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
        self.assertEqual(sorted(os.listdir(self.out)), [".env", "app.env", "compose.yaml", "id", "proxy", "secrets"])
        with open(os.path.join(self.out, "app.env")) as f:
            self.assertEqual(f.read(), "PORT=3000\n")
        with open(os.path.join(self.out, "proxy", "templates", "default.conf.template")) as f:
            self.assertEqual(f.read(), "upstream api { server ${API_UPSTREAM}; }\n")
        # One file per service, each with only its own secrets; single quotes: compose must not
        # interpolate the $ in a secret.
        secrets = os.path.join(self.out, "secrets")
        self.assertEqual(sorted(os.listdir(secrets)), ["api.env", "db.env", "proxy.env"])
        want = {"db.env": "POSTGRES_PASSWORD='pa$$word'\n", "api.env": "DATABASE_PASSWORD='pa$$word'\n", "proxy.env": "ORIGIN_HEADER_VALUE='origin'\n"}
        for name, content in want.items():
            with open(os.path.join(secrets, name)) as f:
                self.assertEqual(f.read(), content)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(secrets, name)).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(secrets).st_mode), 0o700)
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
        p = bundle(**{"/slipway/dev/secrets/datadog/DD_API_KEY": "it's"})
        with self.assertRaises(fetch_mod.FetchError):
            fetch_mod.fetch(StubSSM(p), "/slipway/dev/", self.out)

    def test_carries_shell_and_sql_metacharacters_literally(self):
        value = 'pa$$word"; rm -rf / & echo | (x) <y> \\ `id` $(whoami) #no-comment 100%'
        p = bundle(**{"/slipway/dev/secrets/datadog/DD_API_KEY": value})
        fetch_mod.fetch(StubSSM(p), "/slipway/dev/", self.out)
        with open(os.path.join(self.out, "secrets", "datadog.env")) as f:
            self.assertEqual(f.read(), "DD_API_KEY='%s'\n" % value)

    def test_refuses_what_an_env_file_cannot_carry_without_echoing_it(self):
        for bad in ["it's-secret-value", "line1\nline2-secret", "cr\rsecret-value", "tab\tsecret-value", "n\u00fcn-ascii-secret", ""]:
            p = bundle(**{"/slipway/dev/secrets/datadog/DD_API_KEY": bad})
            out = tempfile.mkdtemp()
            with self.assertRaises(fetch_mod.FetchError) as ctx:
                fetch_mod.fetch(StubSSM(p), "/slipway/dev/", out)
            self.assertIn("DD_API_KEY", str(ctx.exception))
            self.assertNotIn("secret-value", str(ctx.exception))
            self.assertEqual(os.listdir(out), [], "nothing is written when a secret is refused")

    def test_refuses_a_secret_outside_a_service(self):
        # The old flat layout (secrets/<KEY>) would give every service every secret: refused.
        p = bundle(**{"/slipway/dev/secrets/DATABASE_PASSWORD": "pw"})
        with self.assertRaises(fetch_mod.FetchError):
            fetch_mod.fetch(StubSSM(p), "/slipway/dev/", self.out)

    def test_refuses_a_bundle_without_the_template(self):
        p = bundle()
        del p["/slipway/dev/release/default.conf.template"]
        with self.assertRaises(fetch_mod.FetchError):
            fetch_mod.fetch(StubSSM(p), "/slipway/dev/", self.out)


if __name__ == "__main__":
    unittest.main()
