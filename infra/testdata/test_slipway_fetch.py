"""Unit tests of hostfiles/slipway-fetch.py with a stubbed SSM client (no boto3 needed)."""

import importlib.util
import json
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
        "/slipway/dev/release/id": "0123456789abcdef0123",
        "/slipway/dev/secrets/db/POSTGRES_PASSWORD": "pa$$word",
        "/slipway/dev/secrets/api/DATABASE_PASSWORD": "pa$$word",
        "/slipway/dev/secrets/proxy/ORIGIN_HEADER_VALUE": "origin",
    }
    p.update(extra)
    return p


class StubPut:
    """put_parameter, get_parameters_by_path and delete_parameters over a dict of receipts."""

    def __init__(self, held=None):
        self.puts = []
        self.held = dict(held or {})  # name -> LastModifiedDate
        self.deleted = []

    def put_parameter(self, **kwargs):
        self.puts.append(kwargs)
        self.held[kwargs["Name"]] = "9999"

    def get_parameters_by_path(self, Path, Recursive, NextToken=None):
        names = sorted(n for n in self.held if n.startswith(Path))
        start = int(NextToken or 0)
        page = {"Parameters": [{"Name": n, "LastModifiedDate": self.held[n]} for n in names[start:start + 10]]}
        if start + 10 < len(names):
            page["NextToken"] = str(start + 10)
        return page

    def delete_parameters(self, Names):
        assert len(Names) <= 10
        self.deleted += Names
        for n in Names:
            del self.held[n]


class FetchTest(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp()

    def test_writes_root_only_secrets(self):
        ssm = StubSSM(bundle())
        self.assertEqual(fetch_mod.fetch(ssm, "/slipway/dev/", self.out), ["api", "db", "proxy"])
        # Only the secrets: the loader wrote the bundle's other files.
        self.assertEqual(sorted(os.listdir(self.out)), ["secrets"])
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
        self.assertEqual(ssm.calls, [("/slipway/dev/secrets/", True)] * 3)

    def test_refuses_no_secrets(self):
        with self.assertRaises(fetch_mod.FetchError):
            fetch_mod.fetch(StubSSM({"/slipway/dev/release/id": "x"}), "/slipway/dev/", self.out)

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


class ReceiptTest(unittest.TestCase):
    RID = "0123456789abcdef0123"

    def test_writes_the_receipt_as_json(self):
        ssm = StubPut()
        name = fetch_mod.put_receipt(ssm, "/slipway/dev/", self.RID, "failed", "2", "api", "unhealthy: api", "one\ntwo\n")
        self.assertEqual(name, "/slipway/dev/receipts/" + self.RID)
        (put,) = ssm.puts
        self.assertEqual((put["Name"], put["Type"], put["Tier"], put["Overwrite"]), (name, "String", "Standard", True))
        self.assertEqual(json.loads(put["Value"]), {"releaseId": self.RID, "status": "failed", "attempt": "2",
                                                    "service": "api", "reason": "unhealthy: api", "logs": ["one", "two"]})

    def test_trims_to_a_standard_parameter_keeping_the_last_lines(self):
        logs = "\n".join("line %04d %s" % (i, "x" * 400) for i in range(200)) + "\nthe very last line\n"
        value = fetch_mod.receipt_value(self.RID, "failed", "1", "api", "r" * 5000, logs)
        self.assertLessEqual(len(value.encode()), fetch_mod.RECEIPT_LIMIT)
        doc = json.loads(value)
        self.assertEqual(doc["logs"][-1], "the very last line")
        self.assertTrue(all(len(l) <= fetch_mod.LOG_LINE_LIMIT for l in doc["logs"]))
        self.assertGreater(len(doc["logs"]), 3)

    def test_keeps_only_the_newest_receipts(self):
        held = {"/slipway/dev/receipts/%020x" % i: "2026-12-01 %02d:%02d" % (i // 60, i % 60) for i in range(35)}
        ssm = StubPut(held)
        name = fetch_mod.put_receipt(ssm, "/slipway/dev/", self.RID, "healthy", "1", "", "", "")
        self.assertEqual(len(ssm.held), fetch_mod.RECEIPTS_KEPT)
        self.assertIn(name, ssm.held)
        # The oldest went, the newest stayed.
        self.assertIn("/slipway/dev/receipts/%020x" % 0, ssm.deleted)
        self.assertIn("/slipway/dev/receipts/%020x" % 34, ssm.held)

    def test_refuses_what_is_not_a_receipt(self):
        with self.assertRaises(fetch_mod.FetchError):
            fetch_mod.receipt_value(self.RID, "fine", "1", "", "", "")
        with self.assertRaises(fetch_mod.FetchError):
            fetch_mod.put_receipt(StubPut(), "/slipway/dev/", "../x", "healthy", "1", "", "", "")


if __name__ == "__main__":
    unittest.main()
