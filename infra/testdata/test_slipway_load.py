"""Unit tests of hostfiles/slipway-load.py (the host's stable loader) with stubbed SSM and S3."""

import importlib.util
import io
import json
import os
import stat
import tempfile
import unittest

spec = importlib.util.spec_from_file_location("slipway_load", os.environ.get("SLIPWAY_LOAD", "hostfiles/slipway-load.py"))
load_mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(load_mod)

RID = "0123456789abcdef0123"


class Stub:
    def __init__(self, stored=RID, files=None, bundle_id=RID):
        self.stored = stored
        self.body = json.dumps({"releaseId": bundle_id, "files": files if files is not None else
                                {"compose.yaml": "name: slipway\n", "bin/slipway-release": "#!/bin/sh\n"}}).encode()
        self.keys = []

    def get_parameter(self, Name):
        return {"Parameter": {"Value": {"/slipway/dev/release/id": self.stored,
                                        "/slipway/dev/release/bucket": "bundles"}[Name]}}

    def get_object(self, Bucket, Key):
        self.keys.append((Bucket, Key))
        return {"Body": io.BytesIO(self.body)}


class LoadTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp()

    def load(self, stub, expect=RID):
        return load_mod.load(stub, stub, "/slipway/dev/", self.root, expect)

    def test_stages_the_stored_bundle(self):
        stub = Stub()
        rid, staged = self.load(stub)
        self.assertEqual((rid, stub.keys), (RID, [("bundles", "releases/%s.json" % RID)]))
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(staged, "bin/slipway-release")).st_mode), 0o755)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(staged, "compose.yaml")).st_mode), 0o644)
        with open(os.path.join(staged, "id")) as f:
            self.assertEqual(f.read(), RID + "\n")

    def test_refuses_an_overtaken_release(self):
        with self.assertRaisesRegex(load_mod.LoadError, "overtook"):
            self.load(Stub(stored="f" * 20))

    def test_refuses_a_bundle_of_another_release(self):
        with self.assertRaisesRegex(load_mod.LoadError, "is of release"):
            self.load(Stub(bundle_id="f" * 20))

    def test_refuses_paths_outside_the_release(self):
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../b", "bin/../../x"]:
            with self.assertRaisesRegex(load_mod.LoadError, "may not"):
                self.load(Stub(files={"bin/slipway-release": "", bad: "x"}))

    def test_refuses_a_bundle_without_its_release_script(self):
        with self.assertRaisesRegex(load_mod.LoadError, "no bin/slipway-release"):
            self.load(Stub(files={"compose.yaml": ""}))


if __name__ == "__main__":
    unittest.main()
