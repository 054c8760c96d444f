"""AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> for botocore older than 1.31.

botocore 1.31 (boto3 1.28) and later read these variables themselves: Ubuntu 24.04's
python3-boto3 (1.34), which the host runs, does. Debian 12's python3-boto3 (1.26, botocore 1.29),
which the tests run, predates them, so test_fetch_emulator.py puts this directory on PYTHONPATH
and Python imports this module at start-up: it gives every boto3 client the endpoint those
variables name, exactly as a newer botocore would, and changes nothing with a newer botocore.
The host scripts themselves run unchanged.
"""

import os

try:
    import boto3.session
    import botocore
except ImportError:  # not a boto3 program; nothing to do
    boto3 = None

if boto3 is not None and tuple(int(p) for p in botocore.__version__.split(".")[:2]) < (1, 31):
    _client = boto3.session.Session.client

    def _client_with_configured_endpoint(self, service_name, *args, **kwargs):
        if kwargs.get("endpoint_url") is None and len(args) < 5:  # 5th positional after service_name
            key = "AWS_ENDPOINT_URL_" + service_name.upper().replace("-", "_").replace(" ", "_")
            url = os.environ.get(key) or os.environ.get("AWS_ENDPOINT_URL")
            if url:
                kwargs["endpoint_url"] = url
        return _client(self, service_name, *args, **kwargs)

    boto3.session.Session.client = _client_with_configured_endpoint
