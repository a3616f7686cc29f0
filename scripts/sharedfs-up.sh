#!/usr/bin/env bash
# Brings up a REAL shared filesystem on this machine, as root, without systemd: a GlusterFS
# volume of two bricks on local folders (a distributed volume, so files hash onto either brick
# and a rename may leave a DHT link file behind), FUSE-mounted like a cluster's /shared.
# GlusterFS has weaker semantics than a local disk (link files on rename, client-side caching):
# exactly what the store must survive.  Idempotent: a mount that is already there and answering
# is only checked.  Prints the mount point as its last line, so callers can do
#   DII_TEST_SHARED=$(scripts/sharedfs-up.sh | tail -1)
#
#   scripts/sharedfs-up.sh [MOUNT]          bring it up at MOUNT (default /mnt/dii-shared)
#   scripts/sharedfs-up.sh --down [MOUNT]   unmount MOUNT; the last one stops glusterd and the bricks
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROG=sharedfs-up
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"

VOLUME=${DII_SHARED_VOLUME:-dii-shared}
BRICK_DIR=${DII_SHARED_BRICKS:-/srv/dii-shared}   # bricks: $BRICK_DIR/brick1, $BRICK_DIR/brick2
LOG_HINT=/var/log/glusterfs/
HOST=$(hostname -s)

gluster_q() { gluster --mode=script "$@"; }

# The mount point as /proc/mounts spells it, with its type: "fuse.glusterfs" when all is well.
mount_type() {
  awk -v m="$1" '$2 == m {t = $3} END {print t}' /proc/mounts
}

# Mounted from GlusterFS and answering (a dead client answers "Transport endpoint is not connected").
answering() {
  [ "$(mount_type "$MOUNT")" = fuse.glusterfs ] && timeout 10 stat -f "$MOUNT" >/dev/null 2>&1 \
    && timeout 10 ls "$MOUNT" >/dev/null 2>&1
}

need_fuse() {
  [ -c /dev/fuse ] || modprobe fuse 2>/dev/null || true
  [ -c /dev/fuse ] || die "no /dev/fuse in this machine (and 'modprobe fuse' did not make one): GlusterFS cannot be FUSE-mounted here"
  grep -qw fuse /proc/filesystems || die "the kernel has no fuse filesystem (/proc/filesystems)"
}

start_glusterd() {
  mkdir -p /var/log/glusterfs /var/lib/glusterd
  running glusterd || /usr/sbin/glusterd -p /run/glusterd.pid || die "glusterd would not start ($LOG_HINT)"
  wait_for 60 glusterd gluster_q volume list
}

# Online bricks of the volume, from `gluster volume status --xml`: the plain table wraps a
# brick's line in two when the host name is long, which a line-based count would miss.
bricks_online() {
  gluster_q volume status "$VOLUME" --xml 2>/dev/null | python3 -c '
import sys, xml.etree.ElementTree as ET
try:
    root = ET.fromstring(sys.stdin.read())
except ET.ParseError:
    print(0); raise SystemExit
print(sum(1 for n in root.iter("node")
          if (n.findtext("path") or "").startswith("/") and n.findtext("status") == "1"))'
}

ensure_volume() {
  if ! gluster_q volume info "$VOLUME" >/dev/null 2>&1; then
    log "creating volume $VOLUME on $BRICK_DIR/brick1 and $BRICK_DIR/brick2"
    mkdir -p "$BRICK_DIR/brick1" "$BRICK_DIR/brick2"
    # `force`: the bricks are folders on the root filesystem, which GlusterFS refuses by default.
    gluster_q volume create "$VOLUME" "$HOST:$BRICK_DIR/brick1" "$HOST:$BRICK_DIR/brick2" force \
      >/dev/null || die "gluster volume create $VOLUME failed"
  fi
  if ! gluster_q volume info "$VOLUME" | grep -q '^Status: Started'; then
    gluster_q volume start "$VOLUME" >/dev/null || die "gluster volume start $VOLUME failed"
  fi
  # After a restart glusterd respawns the brick daemons itself; `start force` revives any it did
  # not.  A loaded machine (CI installs torch and starts Slurm just before) may take a while to
  # bring a brick up, so this asks again rather than giving up after one try.
  local try
  for try in 1 2 3 4; do
    if two_bricks_online; then return 0; fi
    gluster_q volume start "$VOLUME" force >/dev/null 2>&1 || true
    if poll 30 two_bricks_online; then return 0; fi
    log "the bricks of $VOLUME are not both online yet (try $try of 4)"
  done
  tail -n 20 /var/log/glusterfs/bricks/*.log >&2 2>/dev/null || true
  die "the two bricks of $VOLUME did not come up within 120s ($LOG_HINT)"
}

# Polled, not evaluated once: the count must be taken afresh at every try.
two_bricks_online() {
  [ "$(bricks_online)" -ge 2 ]
}

# poll SECONDS CMD... : like wait_for, but says no instead of dying.
poll() {
  local secs=$1 i; shift
  for ((i = 0; i < secs * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  return 1
}

mount_volume() {
  if [ -n "$(mount_type "$MOUNT")" ]; then
    log "$MOUNT is mounted but not answering: unmounting it first"
    umount -l "$MOUNT" || die "could not unmount the stale $MOUNT"
  fi
  mkdir -p "$MOUNT"
  mount -t glusterfs "$HOST:/$VOLUME" "$MOUNT" || die "mount -t glusterfs $HOST:/$VOLUME $MOUNT failed ($LOG_HINT)"
  wait_for 60 "the mount $MOUNT" answering
  chmod 1777 "$MOUNT"   # a shared scratch, like /tmp: every user may keep a store there
}

# What the store relies on: the mount is FUSE GlusterFS, and a file written to a temp name,
# fsync'ed and renamed over another reads back whole.
verify() {
  [ "$(mount_type "$MOUNT")" = fuse.glusterfs ] \
    || die "$MOUNT is a $(mount_type "$MOUNT") mount, not fuse.glusterfs"
  local probe="$MOUNT/.sharedfs-up-probe.$$"
  printf 'old' >"$probe" && printf 'new' >"$probe.tmp" && sync "$probe.tmp" \
    && mv -f "$probe.tmp" "$probe" || die "write + fsync + rename failed on $MOUNT"
  [ "$(cat "$probe")" = new ] || die "a renamed file on $MOUNT did not read back"
  rm -f "$probe"
}

# Unmount MOUNT; stop glusterd and the bricks unless another mount of the volume still uses them.
down() {
  if [ -n "$(mount_type "$MOUNT")" ]; then umount "$MOUNT" || umount -l "$MOUNT"; fi
  local others
  others=$(awk -v src="$HOST:/$VOLUME" '$1 == src && $3 == "fuse.glusterfs" {print $2}' /proc/mounts)
  if [ -n "$others" ]; then
    log "$MOUNT unmounted; glusterd keeps serving $(echo "$others" | paste -sd' ' -)"
    return 0
  fi
  local d
  for d in glusterd glusterfsd; do
    # shellcheck disable=SC2046
    kill_and_wait $(daemon_pids "$d")
  done
  log "$MOUNT unmounted, glusterd and the bricks stopped"
}

main() {
  local want_down=0
  if [ "${1:-}" = --down ]; then want_down=1; shift; fi
  case "${1:-}" in -h|--help) sed -n '/^#   scripts/s/^#   //p' "$0"; return 0 ;; esac
  MOUNT=$(realpath -m "${1:-/mnt/dii-shared}")
  need_root "it starts glusterd and mounts a filesystem"
  if [ $want_down = 1 ]; then down; return 0; fi
  if ! answering; then
    install_packages glusterfs-server glusterfs-client
    need_fuse
    start_glusterd
    ensure_volume
    mount_volume
  fi
  verify
  echo "$MOUNT"
}

main "$@"
