#!/bin/bash
# Mounts the stack's persistent data volume at $SLIPWAY_DATA_DIR.
#
# The volume outlives the host: a new host finds it by its EBS volume id,
# formats it only when it carries no filesystem yet (first boot of a new
# stack), and mounts it by UUID so a device rename cannot mount the wrong
# disk. Runs once per instance (cloud-init); later boots mount it through
# the fstab entry. Safe to run again.
set -euo pipefail

# shellcheck source=/dev/null
. "${SLIPWAY_HOST_ENV:-/etc/slipway/host.env}"
fstab="${SLIPWAY_FSTAB:-/etc/fstab}"

: "${SLIPWAY_DATA_VOLUME_ID:?missing in /etc/slipway/host.env}"
: "${SLIPWAY_DATA_DIR:?missing in /etc/slipway/host.env}"
wait_seconds="${SLIPWAY_DATA_WAIT_SECONDS:-600}"
by_id_dir="${SLIPWAY_DEVICE_DIR:-/dev/disk/by-id}"

# On Nitro instances EBS volumes are NVMe devices whose serial is the volume
# id without its dash; udev links them under /dev/disk/by-id.
device="${by_id_dir}/nvme-Amazon_Elastic_Block_Store_${SLIPWAY_DATA_VOLUME_ID//-/}"

# The volume is attached after the instance starts; wait for it.
waited=0
until [ -e "$device" ]; do
	if [ "$waited" -ge "$wait_seconds" ]; then
		echo "slipway: data volume ${SLIPWAY_DATA_VOLUME_ID} not attached after ${wait_seconds}s" >&2
		exit 1
	fi
	sleep 5
	waited=$((waited + 5))
done

if ! blkid "$device" >/dev/null 2>&1; then
	echo "slipway: ${SLIPWAY_DATA_VOLUME_ID} has no filesystem; formatting it (first use)"
	mkfs.ext4 -q -L slipway-data "$device"
fi

uuid="$(blkid -s UUID -o value "$device")"
mkdir -p "$SLIPWAY_DATA_DIR"
if ! grep -q "UUID=${uuid} " "$fstab"; then
	# nofail: a missing volume must not stop the host from booting into
	# a state where SSM can reach it.
	echo "UUID=${uuid} ${SLIPWAY_DATA_DIR} ext4 defaults,nofail,noatime 0 2" >>"$fstab"
fi
mountpoint -q "$SLIPWAY_DATA_DIR" || mount --fstab "$fstab" "$SLIPWAY_DATA_DIR"

# Postgres in the official image runs as uid 999.
install -d -m 0700 -o 999 -g 999 "${SLIPWAY_DATA_DIR}/postgres"
echo "slipway: data volume mounted at ${SLIPWAY_DATA_DIR}"
