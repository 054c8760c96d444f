#!/usr/bin/env bash
# Restore drill: continuous archiving and the restore path, for real on this machine.
#
#   sudo scripts/drill-data.sh                       # short run (small database, ~2-3 min)
#   sudo DRILL_DB_MB=1024 DRILL_ARCHIVE_TIMEOUT=60 DRILL_WRITE_SECONDS=300 scripts/drill-data.sh
#
# Real Postgres (Debian's), the real archiver (pgBackRest, configured from
# app/db/pgbackrest.conf.template by app/db/slipway-pgbackrest-render.sh and started through
# app/db/slipway-db-entrypoint.sh, rendered for a local endpoint), an S3-compatible server on
# loopback (gofakes3) behind nginx with a test CA (pgBackRest's S3 driver speaks TLS only),
# and the host scripts infra/hostfiles/slipway-backup.sh and slipway-db-restore.sh. It:
#   1. fills a database to DRILL_DB_MB, takes a full backup (slipway-backup full);
#   2. checks the archiver metrics (slipway-metrics.py) against the real server: an S3 fault
#      (nginx answers 403) must show as ArchiveFailures and WalPendingSeconds, and clear;
#   3. starts a client that inserts rows continuously and appends each acknowledged commit
#      (id, client time of the acknowledgement) to a file outside the database;
#   4. takes a second full backup, then plays the bucket's lifecycle rule: deletes every
#      object older than a cut-off between the two backups (the first backup and the WAL
#      before the second one disappear);
#   5. at time T, after DRILL_WRITE_SECONDS (+ DRILL_T_OFFSET, default random within
#      archive_timeout) more seconds of writes, kills the postmaster with
#      SIGKILL and deletes the data directory (and the spool);
#   6. restores to latest with slipway-db-restore --to latest, then --swap, and verifies the
#      rows against the client's file.
# The host role may not delete: nginx refuses every DELETE except the one pgBackRest's backup
# makes on backup/<stanza>/latest (see docs/operations.md), and the drill fails if anything
# else was attempted. Details go to stderr and $DRILL_WORK/drill.log; stdout is one line:
#   restore drill: <W> rows acknowledged, <L> lost, RPO <rpo> s, RTO <rto> s, database <M> MB
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

db_mb="${DRILL_DB_MB:-64}"
archive_timeout="${DRILL_ARCHIVE_TIMEOUT:-10}"
write_seconds="${DRILL_WRITE_SECONDS:-40}"
write_rate="${DRILL_WRITE_RATE:-50}" # rows per second, at most
t_offset="${DRILL_T_OFFSET:-$((RANDOM % ${DRILL_ARCHIVE_TIMEOUT:-10}))}" # seconds added before T
keep="${DRILL_KEEP:-0}"
bindir="${DRILL_PG_BINDIR:-$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)}"
gofakes3_version=v1.2.0
gobin="${DRILL_GOBIN:-${XDG_CACHE_HOME:-$HOME/.cache}/slipway/bin}"

[ "$(id -u)" -eq 0 ] || {
	echo "drill-data: run as root (Postgres runs as the postgres user)" >&2
	exit 2
}
for cmd in pgbackrest nginx openssl python3 curl go runuser; do
	command -v "$cmd" >/dev/null || {
		echo "drill-data: $cmd not found (scripts/test.sh installs it)" >&2
		exit 2
	}
done
[ -x "$bindir/postgres" ] || {
	echo "drill-data: no Postgres server binaries (apt-get install postgresql)" >&2
	exit 2
}

work="${DRILL_WORK:-$(mktemp -d /tmp/slipway-drill.XXXXXX)}"
mkdir -p "$work"
chmod 0755 "$work"
exec 3>&2 2> >(tee -a "$work/drill.log" >&3)
started=$SECONDS
log() { printf 'drill-data [%4ss] %s\n' "$((SECONDS - started))" "$*" >&2; }
die() {
	log "FAILED: $*"
	exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pids=()
cleanup() {
	local rc=$?
	set +e
	for d in "$work/db/main" "$work/db/restore/disaster" "$work/db/restore/pitr"; do
		[ -f "$d/postmaster.pid" ] && runuser -u postgres -- "$bindir/pg_ctl" stop -D "$d" -m immediate >/dev/null 2>&1
	done
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	# Only these: a bare wait would also wait for the tee of stderr, which waits for us.
	wait "${pids[@]}" 2>/dev/null
	if [ "$rc" -ne 0 ] || [ "$keep" = 1 ]; then
		echo "drill-data: work directory kept: $work" >&3
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT

# --- the S3 stand-in: gofakes3 (memory) on loopback, nginx with a test CA in front --------
if [ ! -x "$gobin/gofakes3" ]; then
	log "building gofakes3 $gofakes3_version from the Go module proxy"
	GOBIN="$gobin" GOFLAGS=-mod=mod go install "github.com/johannesboyne/gofakes3/cmd/gofakes3@$gofakes3_version" >&2
fi
s3_port="$(free_port)"
tls_port="$(free_port)"
"$gobin/gofakes3" -backend memory -host "127.0.0.1:$s3_port" -initialbucket drill >"$work/gofakes3.log" 2>&1 &
pids+=($!)

(
	cd "$work"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj "/CN=Slipway drill CA"
	openssl req -newkey rsa:2048 -nodes -keyout s3.key -out s3.csr -subj "/CN=localhost"
	printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >s3.ext
	openssl x509 -req -in s3.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out s3.crt -days 1 -extfile s3.ext
) >/dev/null 2>&1 || die "openssl could not make the test CA"
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<EOF
pid $work/nginx.pid;
error_log $work/nginx-error.log;
worker_processes 1;
events {}
http {
  log_format s3 '\$msec \$request_method \$uri "\$args" \$status md5=\$http_content_md5';
  access_log $work/s3-access.log s3;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$tls_port ssl;
    listen [::1]:$tls_port ssl;
    ssl_certificate $work/s3.crt;
    ssl_certificate_key $work/s3.key;
    client_max_body_size 0;
    proxy_request_buffering off;
    default_type application/xml;
    location / {
      # The drill's S3 fault switch.
      if (-f $work/s3-fault) { return 403 '<Error><Code>AccessDenied</Code><Message>drill fault</Message></Error>'; }
      # The host role's rights: no delete but of the backup's "latest" marker.
      set \$deny "";
      if (\$request_method = DELETE) { set \$deny "d"; }
      if (\$args ~ "(^|&)delete") { set \$deny "d"; }
      if (\$uri ~ "/backup/[^/]+/latest\$") { set \$deny "\${deny}l"; }
      if (\$deny = "d") { return 403 '<Error><Code>AccessDenied</Code><Message>the host role may not delete</Message></Error>'; }
      proxy_pass http://127.0.0.1:$s3_port;
      proxy_set_header Host \$http_host;
    }
  }
}
EOF
nginx -c "$work/nginx.conf" -e "$work/nginx-error.log" || die "nginx did not start"
for _ in $(seq 50); do
	curl -sf --cacert "$work/ca.crt" "https://localhost:$tls_port/drill?list-type=2" >/dev/null && break
	sleep 0.2
done
curl -sf --cacert "$work/ca.crt" "https://localhost:$tls_port/drill?list-type=2" >/dev/null || die "S3 endpoint not answering through TLS"

# --- Postgres with the archiver, configured exactly as the db image does ------------------
mkdir -p "$work/bin" "$work/db" "$work/run" "$work/lock"
ln -sf "$repo/app/db/slipway-pgbackrest-render.sh" "$work/bin/slipway-pgbackrest-render"
ln -sf "$repo/app/db/slipway-db-entrypoint.sh" "$work/bin/slipway-db-entrypoint"
chown postgres: "$work/db" "$work/run" "$work/lock"
export PATH="$work/bin:$PATH"
# What the release sets (db.env; path and stanza are the release's, infra.ArchiveRepoPath and infra.ArchiveStanza) ...
export SLIPWAY_BACKUP_BUCKET=drill SLIPWAY_BACKUP_PATH=/pgbackrest SLIPWAY_BACKUP_REGION=us-east-1
export SLIPWAY_BACKUP_STANZA=main SLIPWAY_ARCHIVE_TIMEOUT="$archive_timeout"
# ... and what differs here: the endpoint, its CA, a static key (no instance role), paths.
export SLIPWAY_BACKUP_ENDPOINT=localhost SLIPWAY_BACKUP_PORT="$tls_port" SLIPWAY_BACKUP_URI_STYLE=path
export SLIPWAY_BACKUP_CA_FILE="$work/ca.crt" SLIPWAY_BACKUP_KEY_TYPE=shared
export PGBACKREST_REPO1_S3_KEY=drill-access-key PGBACKREST_REPO1_S3_KEY_SECRET=drill-secret-key
export SLIPWAY_BACKUP_LOG_LEVEL_FILE=debug SLIPWAY_BACKUP_LOCK_PATH="$work/lock"
export SLIPWAY_DB_ROOT="$work/db" PGDATA="$work/db/main" SLIPWAY_DB_SOCKET_DIR="$work/run"
PGPORT="$(free_port)"
export PGPORT POSTGRES_USER=postgres POSTGRES_DB=drill
export SLIPWAY_PGBACKREST_CONF="$work/pgbackrest.conf"
export SLIPWAY_PGBACKREST_TEMPLATE="$repo/app/db/pgbackrest.conf.template"
export SLIPWAY_DB_EXEC=direct SLIPWAY_DB_RUNTIME=local SLIPWAY_PG_BINDIR="$bindir" SLIPWAY_DB_PGDATA_REL=main
SLIPWAY_RESTORE_PORT="$(free_port)"
export SLIPWAY_HOST_ENV=/nonexistent SLIPWAY_BACKUP_LOCK="$work/backup.lock" SLIPWAY_RESTORE_PORT
touch "$work/pgbackrest.conf"
chown postgres: "$work/pgbackrest.conf" "$work"

log "versions: $("$bindir/postgres" --version), $(pgbackrest version), $(nginx -v 2>&1), gofakes3 $gofakes3_version"
log "archive_timeout=${archive_timeout}s, database ${db_mb} MB, writes ${write_seconds}+${t_offset}s after the second backup at <= ${write_rate}/s"
runuser -u postgres -- "$bindir/initdb" -D "$PGDATA" -U postgres --auth=trust --data-checksums >/dev/null
start_live() {
	runuser -u postgres -- env SLIPWAY_DB_EXEC=direct slipway-db-entrypoint "$bindir/postgres" \
		-D "$PGDATA" -p "$PGPORT" -k "$work/run" -c listen_addresses= >>"$work/db/live.log" 2>&1 &
}
psql_() { runuser -u postgres -- "$bindir/psql" -h "$work/run" -p "$PGPORT" -U postgres -XAtq -v ON_ERROR_STOP=1 "$@"; }
start_live
for _ in $(seq 100); do psql_ -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
psql_ -d postgres -c 'SELECT 1' >/dev/null || die "Postgres did not start ($work/db/live.log)"
[ "$(psql_ -d postgres -c 'SHOW archive_mode')" = on ] || die "archive_mode is not on"
log "archive_command: $(psql_ -d postgres -c 'SHOW archive_command')"

psql_ -d postgres -c 'CREATE DATABASE drill' >/dev/null
psql_ -d drill -c "CREATE TABLE filler (id bigint PRIMARY KEY, payload text NOT NULL)" \
	-c "CREATE TABLE acked (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), pad text)" >/dev/null
# About 600 bytes a row of random hex (compresses about 2:1, like much real data).
rows=$((db_mb * 1024 * 1024 / 700))
log "filling the database: $rows rows"
psql_ -d drill -c "INSERT INTO filler SELECT g, repeat(md5(random()::text) || md5(random()::text), 9) FROM generate_series(1, $rows) g" >/dev/null
psql_ -d drill -c "VACUUM ANALYZE filler" >/dev/null
log "database size: $(psql_ -d drill -c "SELECT pg_size_pretty(pg_database_size('drill'))")"

backup="$repo/infra/hostfiles/slipway-backup.sh"
log "first full backup (slipway-backup full: stanza-create, then backup)"
t0=$SECONDS
bash "$backup" full >>"$work/backup-1.log" 2>&1 || die "first backup failed ($work/backup-1.log)"
log "first full backup took $((SECONDS - t0)) s"
bash "$backup" >>"$work/backup-skip.log" 2>&1 || die "slipway-backup (scheduled run) failed"
grep -q "next one after" "$work/backup-skip.log" || die "the scheduled run did not skip with a fresh full backup"

# --- archiver metrics against the real server --------------------------------------------
metrics() {
	SLIPWAY_STACK=drill SLIPWAY_DATA_DIR="$work/db" SLIPWAY_READY_URL=http://127.0.0.1:9/ SLIPWAY_READY_TIMEOUT=1 \
		SLIPWAY_METRICS_PSQL="runuser -u postgres -- $bindir/psql -h $work/run -p $PGPORT -U postgres -d postgres -XAtqc" \
		SLIPWAY_METRICS_STATE="$work/metrics-state.json" SLIPWAY_WAL_STATUS_DIR="$PGDATA/pg_wal/archive_status" \
		python3 "$repo/infra/hostfiles/slipway-metrics.py" --dry-run |
		python3 -c 'import json, sys; print(" ".join("%s=%s" % (m["MetricName"], m["Value"]) for m in json.load(sys.stdin)["MetricData"] if m["MetricName"] in ("ArchiveFailures", "WalPendingSeconds")))'
}
metric() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
ready_count() { find "$PGDATA/pg_wal/archive_status" -name '*.ready' | wc -l; }
m="$(metrics)"
log "metrics, healthy (first run): $m"
if [ "$(metric ArchiveFailures "$m")" != 0.0 ] || [ -z "$(metric WalPendingSeconds "$m")" ]; then die "metrics missing: $m"; fi
touch "$work/s3-fault"
failed0="$(psql_ -d postgres -c 'SELECT failed_count FROM pg_stat_archiver')"
psql_ -d drill -c "INSERT INTO acked (id) VALUES (-1)" -c "SELECT pg_switch_wal()" >/dev/null
for _ in $(seq 100); do
	[ "$(psql_ -d postgres -c 'SELECT failed_count FROM pg_stat_archiver')" -gt "$failed0" ] && [ "$(ready_count)" -gt 0 ] && break
	sleep 0.2
done
sleep 2
m="$(metrics)"
log "metrics, S3 refusing (403): $m"
awk -v f="$(metric ArchiveFailures "$m")" -v w="$(metric WalPendingSeconds "$m")" 'BEGIN { exit !(f >= 1 && w >= 2) }' ||
	die "an S3 fault did not show: $m"
rm -f "$work/s3-fault"
psql_ -d drill -c "DELETE FROM acked WHERE id = -1" -c "SELECT pg_switch_wal()" >/dev/null
for _ in $(seq 300); do
	[ "$(ready_count)" -eq 0 ] && break
	sleep 0.2
done
m="$(metrics)"
log "metrics, S3 back: $m"
[ "$(metric WalPendingSeconds "$m")" = 0.0 ] || die "WAL still pending after the fault cleared: $m"
fault_end="$(date +%s.%N)"

# --- continuous writes, recorded outside the database -------------------------------------
cat >"$work/writer.py" <<'EOF'
import subprocess, sys, time
acks, rate, psql = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
p = subprocess.Popen(psql, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
with open(acks, "w", buffering=1) as out:
    i = 0
    while True:
        i += 1
        t = time.time()
        try:
            p.stdin.write("INSERT INTO acked (id, pad) VALUES (%d, repeat(md5(random()::text), 8)) RETURNING id;\n" % i)
            p.stdin.flush()
        except (BrokenPipeError, OSError):
            break
        line = p.stdout.readline()   # psql prints the row once the commit is acknowledged
        if line.strip() != str(i):
            break
        out.write("%d %.6f\n" % (i, time.time()))
        time.sleep(max(0.0, 1.0 / rate - (time.time() - t)))
EOF
python3 "$work/writer.py" "$work/acks.txt" "$write_rate" runuser -u postgres -- "$bindir/psql" -h "$work/run" -p "$PGPORT" \
	-U postgres -d drill -XAtq -v ON_ERROR_STOP=1 &
writer=$!
pids+=("$writer")
sleep 5

log "second full backup, with writes going on"
sleep 1
cutoff="$(date +%s.%N)"
t0=$SECONDS
bash "$backup" full >>"$work/backup-2.log" 2>&1 || die "second backup failed ($work/backup-2.log)"
backup_seconds=$((SECONDS - t0))
log "second full backup took ${backup_seconds} s"

# The lifecycle rule, played on the server itself: every object older than the cut-off goes.
lifecycle() {
	python3 - "$s3_port" "$1" <<'EOF'
import sys, urllib.parse, urllib.request, xml.etree.ElementTree as ET
from datetime import datetime
port, cutoff = sys.argv[1], float(sys.argv[2])
ns = {"s": "http://s3.amazonaws.com/doc/2006-03-01/"}
base = "http://127.0.0.1:%s/drill" % port
keys, token = [], None
while True:
    q = {"list-type": "2", "prefix": "pgbackrest/"}
    if token:
        q["continuation-token"] = token
    root = ET.fromstring(urllib.request.urlopen(base + "?" + urllib.parse.urlencode(q)).read())
    for c in root.findall("s:Contents", ns):
        lm = c.find("s:LastModified", ns).text.replace("Z", "+00:00")
        keys.append((c.find("s:Key", ns).text, datetime.fromisoformat(lm).timestamp()))
    token = root.findtext("s:NextContinuationToken", namespaces=ns)
    if root.findtext("s:IsTruncated", namespaces=ns) != "true" or not token:
        break
old = [k for k, t in keys if t < cutoff]
for k in old:
    urllib.request.urlopen(urllib.request.Request(base + "/" + urllib.parse.quote(k), method="DELETE"))
kinds = {}
for k in old:
    kind = "wal" if "/archive/" in k and k.endswith(".zst") else k.rsplit("/", 1)[-1] if k.endswith(".info") or k.endswith(".info.copy") else "backup files" if "/backup/" in k else "other"
    kinds[kind] = kinds.get(kind, 0) + 1
print("%d of %d objects older than the cut-off deleted: %s" % (len(old), len(keys), ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
EOF
}
log "lifecycle expiry: $(lifecycle "$cutoff")"
info_left="$(curl -s "http://127.0.0.1:$s3_port/drill?list-type=2&prefix=pgbackrest/archive/main/archive.info" | grep -c '<Key>' || true)"
[ "$info_left" -ge 1 ] || die "archive.info expired: the archiver could not push any more"

# Where T falls in the archive_timeout cycle decides the RPO: a fixed delay that is a
# multiple of archive_timeout would always kill just after a segment switch (the best case).
log "writing for ${write_seconds} s + ${t_offset} s more (T's place in the archive_timeout cycle)"
sleep "$((write_seconds + t_offset))"
kill -0 "$writer" 2>/dev/null || die "the writer stopped early"

# --- disaster at T ------------------------------------------------------------------------
postmaster="$(head -n 1 "$PGDATA/postmaster.pid")"
T="$(date +%s.%N)"
kill -KILL "$postmaster"
rm -rf "$PGDATA" "$work/db/pgbackrest/spool"
log "T: postmaster $postmaster killed (SIGKILL), data directory and spool deleted"
wait "$writer" 2>/dev/null || true
W="$(wc -l <"$work/acks.txt")"
log "the writer stopped: $W rows acknowledged"

restore="$repo/infra/hostfiles/slipway-db-restore.sh"
log "restore: slipway-db-restore --to latest --name disaster"
bash "$restore" --to latest --name disaster >"$work/restore.out" 2>>"$work/restore.log" || die "restore failed ($work/restore.log)"
sed 's/^/    /' "$work/restore.out" >&2
log "swap: slipway-db-restore --swap disaster"
bash "$restore" --swap disaster >>"$work/restore.out" 2>>"$work/restore.log" || die "swap failed ($work/restore.log)"

# Verify: every acknowledged id the database holds, against the client's file.
psql_ -d drill -c "SELECT id FROM acked WHERE id > 0 ORDER BY id" >"$work/restored-ids.txt"
filler_rows="$(psql_ -d drill -c "SELECT count(*) FROM filler")"
done_at="$(date +%s.%N)"
[ "$filler_rows" -eq "$rows" ] || die "filler table: $filler_rows rows, want $rows"
result="$(python3 - "$work/acks.txt" "$work/restored-ids.txt" "$T" "$done_at" <<'EOF'
import sys
acks = [l.split() for l in open(sys.argv[1]) if l.strip()]
acked = {int(i): float(t) for i, t in acks}
restored = {int(l) for l in open(sys.argv[2]) if l.strip()}
T, done = float(sys.argv[3]), float(sys.argv[4])
lost = sorted(set(acked) - restored)
survivors = [acked[i] for i in acked if i in restored]
newest = max(survivors) if survivors else float("nan")
# A restore is a prefix of the history: no acknowledged row older than the newest survivor
# may be missing (holes), and nothing unacknowledged beyond one in-flight row may appear.
holes = [i for i in lost if acked[i] <= newest]
extra = sorted(restored - set(acked))
print("%d %d %.1f %.1f %d %d" % (len(acked), len(lost), T - newest, done - T, len(holes), len(extra)))
EOF
)"
read -r W L rpo rto holes extra <<<"$result"
size_mb="$(psql_ -d drill -c "SELECT round(pg_database_size('drill') / 1048576.0)")"
[ "$holes" -eq 0 ] || die "$holes acknowledged rows older than the recovery point are missing"
[ "$extra" -le 1 ] || die "$extra rows in the database that the client never saw acknowledged"
log "verified: $L of $W acknowledged rows lost (all after the recovery point), $extra in-flight row(s) present, filler intact"

# After the swap: archiving goes on from the new timeline, and a new full backup works.
bash "$backup" full >>"$work/backup-3.log" 2>&1 || die "the full backup after the swap failed ($work/backup-3.log)"
log "full backup on the restored database (new timeline): done"

# --- a point-in-time restore next to the live database (restored, verified, discarded) ----
# The target lies between the second backup and T, on the first timeline; the repository now
# also holds the new timeline and a newer backup, which the restore must not pick.
target_epoch="$(python3 -c "print('%.6f' % (float('$T') - $write_seconds / 2))")"
target="$(date -u -d "@$target_epoch" '+%Y-%m-%d %H:%M:%S.%6N+00')"
log "point-in-time restore: slipway-db-restore --to '$target' --name pitr"
bash "$restore" --to "$target" --name pitr >"$work/pitr.out" 2>>"$work/restore.log" || die "point-in-time restore failed ($work/restore.log)"
runuser -u postgres -- "$bindir/psql" -h "$work/run" -p "$SLIPWAY_RESTORE_PORT" -U postgres -d drill -XAtq \
	-c "SELECT id || ' ' || extract(epoch FROM at) FROM acked WHERE id > 0 ORDER BY id" >"$work/pitr-rows.txt"
pitr="$(python3 - "$work/acks.txt" "$work/pitr-rows.txt" "$target_epoch" <<'EOF'
import sys
acked = {int(i): float(t) for i, t in (l.split() for l in open(sys.argv[1]) if l.strip())}
rows = {int(i): float(t) for i, t in (l.split() for l in open(sys.argv[2]) if l.strip())}
target = float(sys.argv[3])
missing = [i for i, t in acked.items() if t <= target and i not in rows]   # acknowledged before the target
late = [i for i, t in rows.items() if t > target]                          # written after the target
print("%d %d %d" % (len(rows), len(missing), len(late)))
EOF
)"
read -r pitr_rows pitr_missing pitr_late <<<"$pitr"
if [ "$pitr_missing" -ne 0 ] || [ "$pitr_late" -ne 0 ]; then
	die "point-in-time restore: $pitr_missing rows acknowledged before the target missing, $pitr_late written after it present"
fi
[ "$(runuser -u postgres -- "$bindir/psql" -h "$work/run" -p "$PGPORT" -U postgres -d drill -XAtqc "SELECT count(*) FROM acked WHERE id > 0")" -gt "$pitr_rows" ] ||
	die "the live database should hold more rows than the point-in-time copy"
bash "$restore" --discard pitr >>"$work/restore.out" 2>>"$work/restore.log" || die "--discard failed"
log "point-in-time restore verified: $pitr_rows rows, all acknowledged before the target, none written after; live database untouched; discarded"

# --- the S3 calls the archiver made, and what the server answered ---------------------------
log "S3 calls (nginx access log; method, object kind, status):"
awk '{ k = $3
	if (k ~ /\/archive\/[^/]+\/[0-9]+-[0-9]+\/[0-9A-F]+\/[0-9A-F]+-[0-9a-f]+\.zst$/) k = "archive/<stanza>/<id>/<wal segment>.zst"
	else if (k ~ /\/archive\/[^/]+\/[0-9]+-[0-9]+\/[0-9A-F]+\/.*\.backup$/) k = "archive/<stanza>/<id>/<segment>.backup"
	else if (k ~ /\/archive\/[^/]+\/[0-9]+-[0-9]+\/[0-9A-F]+\.history$/ || k ~ /\.history$/) k = "archive/<stanza>/<id>/<timeline>.history"
	else if (k ~ /\/backup\/[^/]+\/[0-9]+-[0-9]+F\/pg_data\//) k = "backup/<stanza>/<label>/pg_data/..."
	else if (k ~ /\/backup\/[^/]+\/[0-9]+-[0-9]+F\//) { sub(/.*\//, "", k); k = "backup/<stanza>/<label>/" k }
	else if (k ~ /\/backup\.history\//) k = "backup/<stanza>/backup.history/..."
	else sub(/^\/drill\/pgbackrest\//, "", k)
	if ($4 ~ /list-type=2/) k = "(ListObjectsV2 with prefix) bucket"
	if ($4 ~ /partNumber/) k = "(upload part) " k
	else if ($4 ~ /uploadId/) k = "(complete multipart) " k
	else if ($4 ~ /uploads/) k = "(create multipart) " k
	if ($4 ~ /delete/) k = "(multi-delete) " k
	md5 = ($2 == "PUT" && $6 != "md5=-") ? " (Content-MD5 sent)" : ""
	c[$2 " " k " -> " $5 md5]++ }
	END { for (x in c) printf "    %6d  %s\n", c[x], x }' "$work/s3-access.log" | sort -k2 >&2
bad="$(awk -v f="$fault_end" '$1 > f && $5 >= 400 && !($2 == "HEAD" && $5 == 404) && !($2 == "GET" && $5 == 404)' "$work/s3-access.log" | wc -l)"
denied_deletes="$(awk '$2 == "DELETE" && $5 == 403 || $4 ~ /delete/' "$work/s3-access.log" | wc -l)"
[ "$denied_deletes" -eq 0 ] || die "the archiver or the backups tried to delete $denied_deletes object(s)"
[ "$bad" -eq 0 ] || die "$bad S3 requests failed outside the fault window (see $work/s3-access.log)"
log "pgBackRest debug logs: $work/db/pgbackrest/log (S3 requests at log-level-file=debug)"

printf 'restore drill: %s rows acknowledged, %s lost, RPO %s s, RTO %s s, database %s MB\n' "$W" "$L" "$rpo" "$rto" "$size_mb"
