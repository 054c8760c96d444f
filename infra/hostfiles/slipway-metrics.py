#!/usr/bin/python3
"""Publishes the host's own health to CloudWatch, once per run.

The slipway-metrics.timer runs it every minute. Metrics go to the custom
namespace "Slipway" with the dimension Stack=<stack>; the host role may
write that namespace and no other. CloudWatch cannot see inside the host,
so the alarms on disk usage and API readiness depend on this:

  DataVolumeUsedPercent  use of the Postgres data volume (only when mounted)
  RootVolumeUsedPercent  use of the root volume (images, container logs)
  ApiReady               1 when http://localhost/readyz answers 200, else 0

A dead host publishes nothing; the ApiReady alarm treats missing data as
breaching, so that is an alarm too.

Settings come from /etc/slipway/host.env (the systemd unit loads it).
--dry-run prints the request instead of sending it (tests use it).
"""
import json
import os
import sys
import urllib.error
import urllib.request

NAMESPACE = "Slipway"


def used_percent(path):
    """Disk use as df reports it: used / (used + available to users)."""
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    if used + avail == 0:
        return None
    return round(100.0 * used / (used + avail), 2)


def api_ready(url, timeout):
    """1.0 when the readiness endpoint answers 200, 0.0 otherwise."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 1.0 if resp.status == 200 else 0.0
    except (urllib.error.URLError, OSError, ValueError):
        return 0.0


def metric_data(env):
    stack = env["SLIPWAY_STACK"]
    dims = [{"Name": "Stack", "Value": stack}]
    data = []

    def add(name, value, unit):
        if value is not None:
            data.append({"MetricName": name, "Dimensions": dims, "Value": value, "Unit": unit})

    data_dir = env.get("SLIPWAY_DATA_DIR", "/srv/slipway/data")
    # Measured only when the data volume is mounted: otherwise the path
    # is a directory on the root volume and the number would lie.
    if os.path.ismount(data_dir) or env.get("SLIPWAY_METRICS_ASSUME_MOUNTED") == "1":
        add("DataVolumeUsedPercent", used_percent(data_dir), "Percent")
    add("RootVolumeUsedPercent", used_percent(env.get("SLIPWAY_ROOT_DIR", "/")), "Percent")
    url = env.get("SLIPWAY_READY_URL", "http://localhost/readyz")
    add("ApiReady", api_ready(url, float(env.get("SLIPWAY_READY_TIMEOUT", "5"))), "None")
    return data


def main(argv):
    env = dict(os.environ)
    if "SLIPWAY_STACK" not in env:
        print("slipway-metrics: SLIPWAY_STACK is not set (is /etc/slipway/host.env loaded?)", file=sys.stderr)
        return 2
    request = {"Namespace": NAMESPACE, "MetricData": metric_data(env)}
    if "--dry-run" in argv:
        print(json.dumps(request, sort_keys=True))
        return 0
    import boto3  # python3-boto3 from Ubuntu's archive; imported late so --dry-run needs none

    boto3.client("cloudwatch", region_name=env["AWS_REGION"]).put_metric_data(**request)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
