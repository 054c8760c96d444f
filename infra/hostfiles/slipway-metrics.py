#!/usr/bin/python3
"""Publishes the host's own health to CloudWatch, once per run.

The slipway-metrics.timer runs it every minute. Metrics go to the custom
namespace "Slipway" with the dimension Stack=<stack>; the host role may
write that namespace and no other. CloudWatch cannot see inside the host,
so the alarms on disk usage and API readiness depend on this:

  DataVolumeUsedPercent  use of the Postgres data volume (only when mounted)
  RootVolumeUsedPercent  use of the root volume (images, container logs)
  ApiReady               1 when http://localhost/readyz answers 200, else 0
  ArchiveFailures        failed WAL archive attempts since the last run (the delta of
                         pg_stat_archiver.failed_count; only with archive_mode on)
  WalPendingSeconds      age of the oldest WAL segment waiting to be archived (the oldest
                         .ready file in pg_wal/archive_status), 0 when none waits; not the
                         age of the last archived segment, which grows on an idle database

A dead host publishes nothing; the ApiReady alarm treats missing data as
breaching, so that is an alarm too.

Settings come from /etc/slipway/host.env (the systemd unit loads it).
--dry-run prints the request instead of sending it (tests use it).
"""
import json
import os
import shlex
import subprocess
import sys
import time
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


def wal_pending_seconds(status_dir, now):
    """Age of the oldest .ready file (a segment the archiver has not pushed), 0 if none;
    None when the directory does not exist (no database on this host)."""
    try:
        entries = list(os.scandir(status_dir))
    except FileNotFoundError:
        return None
    oldest = None
    for e in entries:
        if e.name.endswith(".ready"):
            try:
                m = e.stat().st_mtime
            except FileNotFoundError:  # archived while we looked
                continue
            oldest = m if oldest is None else min(oldest, m)
    return 0.0 if oldest is None else round(max(0.0, now - oldest), 1)


def archive_failures(env, state_path):
    """Failed archive attempts since the previous run, from pg_stat_archiver (through psql
    in the db container). None when the database is unreachable or archiving is off.
    The count is kept in state_path; a smaller count than last time means the statistics
    were reset (a crash), so the whole count is new."""
    query = "SELECT current_setting('archive_mode') || ' ' || failed_count FROM pg_stat_archiver"
    default = ["docker", "exec", "-u", "postgres", "slipway-db-1", "sh", "-c",
               'exec psql -U "$POSTGRES_USER" -d postgres -XAtqc "$1"', "sh"]
    cmd = shlex.split(env["SLIPWAY_METRICS_PSQL"]) if env.get("SLIPWAY_METRICS_PSQL") else default
    try:
        out = subprocess.run(cmd + [query], capture_output=True, text=True, timeout=10, check=True).stdout
        mode, count = out.split()
        count = int(count)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if mode == "off":
        return None
    try:
        with open(state_path) as f:
            previous = int(json.load(f)["failed_count"])
    except (OSError, ValueError, KeyError, TypeError):
        previous = None
    try:
        with open(state_path + ".tmp", "w") as f:
            json.dump({"failed_count": count}, f)
        os.replace(state_path + ".tmp", state_path)
    except OSError:
        pass
    if previous is None:
        return 0.0  # first run: nothing to compare with
    return float(count - previous if count >= previous else count)


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
    # Continuous archiving (pgBackRest): published only where the database runs with it.
    failures = archive_failures(env, env.get("SLIPWAY_METRICS_STATE", "/var/lib/slipway/metrics-archiver.json"))
    if failures is not None:
        add("ArchiveFailures", failures, "Count")
        status_dir = env.get("SLIPWAY_WAL_STATUS_DIR", os.path.join(data_dir, "postgres/18/docker/pg_wal/archive_status"))
        add("WalPendingSeconds", wal_pending_seconds(status_dir, time.time()), "Seconds")
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
