#!/bin/bash
# Grows the data volume's ext4 filesystem to the size of its EBS volume.
#
#   slipway-grow-data            online, when mounted (slipway-grow-data.timer, every 5 minutes)
#   slipway-grow-data --offline  when not mounted: e2fsck -f, then grow (an operator's fallback)
#
# Raising slipway:dataVolumeSize is an online ModifyVolume: the NVMe device
# grows under the running host, the filesystem does not. The timer notices
# the difference and runs resize2fs, which grows a mounted ext4 online
# (no unmount, no restart of Postgres). The filesystem covers the whole
# device (no partition table: slipway-mount-data formats the device), so
# there is no partition to grow first. Nothing happens when the filesystem
# already fills the device; EBS volumes never shrink.
set -euo pipefail

# shellcheck source=/dev/null
. "${SLIPWAY_HOST_ENV:-/etc/slipway/host.env}"
: "${SLIPWAY_DATA_VOLUME_ID:?missing in /etc/slipway/host.env}"
: "${SLIPWAY_DATA_DIR:?missing in /etc/slipway/host.env}"
by_id_dir="${SLIPWAY_DEVICE_DIR:-/dev/disk/by-id}"
# Below this much unused device, growing is not worth a resize (ext4's own
# rounding to whole blocks and groups leaves a little).
slack=$((16 << 20))

log() { echo "slipway-grow-data: $*" >&2; }

# The same device slipway-mount-data finds: by EBS volume id.
device="$(readlink -f "${by_id_dir}/nvme-Amazon_Elastic_Block_Store_${SLIPWAY_DATA_VOLUME_ID//-/}")"
if [ ! -e "$device" ]; then
	log "data volume ${SLIPWAY_DATA_VOLUME_ID} is not attached"
	exit 1
fi

device_bytes() {
	if [ -b "$device" ]; then
		blockdev --getsize64 "$device"
	else
		stat -L -c %s "$device" # an image file (tests)
	fi
}

fs_bytes() {
	dumpe2fs -h "$device" 2>/dev/null | awk -F: '
		/^Block count:/ { count = $2 + 0 }
		/^Block size:/  { size = $2 + 0 }
		END { if (count && size) printf "%.0f\n", count * size }'
}

have="$(fs_bytes)"
want="$(device_bytes)"
if [ -z "$have" ]; then
	log "${SLIPWAY_DATA_VOLUME_ID} ($device) holds no ext4 filesystem"
	exit 1
fi
if [ "$((want - have))" -lt "$slack" ]; then
	exit 0 # the filesystem fills the device
fi

mounted=""
if mountpoint -q "$SLIPWAY_DATA_DIR" && [ "$(findmnt -n -o SOURCE --target "$SLIPWAY_DATA_DIR")" = "$device" ]; then
	mounted=1
fi
case "${1:-}" in
"")
	if [ -z "$mounted" ]; then
		log "$device is not mounted at $SLIPWAY_DATA_DIR: it is grown once mounted"
		exit 0
	fi
	log "growing $device online: filesystem $have bytes, device $want bytes"
	resize2fs "$device"
	;;
--offline)
	if [ -n "$mounted" ]; then
		log "$device is mounted: run without --offline"
		exit 1
	fi
	log "growing $device offline: filesystem $have bytes, device $want bytes"
	# resize2fs refuses an unmounted filesystem that was not just checked.
	rc=0
	e2fsck -f -p "$device" || rc=$?
	if [ "$rc" -gt 1 ]; then # 1: errors corrected
		log "e2fsck found errors it could not correct (exit $rc): not growing"
		exit 1
	fi
	resize2fs "$device"
	;;
*)
	sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
log "$device now holds a filesystem of $(fs_bytes) bytes"
