#!/usr/bin/env bash
# Brings up a REAL Slurm cluster with accounting on this machine, as root, without systemd:
# munged, MariaDB (mysqld_safe), slurmdbd, slurmctld, the slurmd(s), then the sacctmgr
# cluster/account/user.  Idempotent: daemons already answering are left alone and an unchanged
# config restarts nothing, so CI and developers can call it before every test run.
#
# Two shapes (configs in scripts/lib/slurm-conf.sh):
#   one node (default, laptops): the host is node `$(hostname -s)` with its real CPUs and memory;
#   --nodes N (N >= 2, tests use 3): node1..nodeN emulated on this host, one `slurmd -N nodeK`
#     each with its own Port and spool dir, each declaring Gres=gpu:2 backed by device files
#     made with mknod (/dev/dii-gpu/nodeK-I), so Slurm really allocates GPUs and sets
#     CUDA_VISIBLE_DEVICES.  The host's CPUs are split N ways, at least 2 per node.
# Switching shape stops the slurmds of the other shape, rewrites the config and restarts
# slurmctld and the slurmds (running jobs on removed nodes are lost), then waits for every node.
#
# Settings chosen so integration tests are quick and deterministic:
#   one partition `debug` (Default=YES), MaxArraySize=1001, KillWait=5, OverTimeLimit=0,
#   cred_expire=10 (requeued jobs restart fast), jobacct_gather/linux (sacct has MaxRSS),
#   proctrack/linuxproc + task/none (no cgroups needed).
#
#   scripts/slurm-up.sh              one-node cluster (or check that it is up)
#   scripts/slurm-up.sh --nodes 3    node1..node3 with 2 emulated GPUs each
#   scripts/slurm-up.sh --down       stop the Slurm daemons, every slurmd (MariaDB and munged stay)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PROG=slurm-up
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"
# shellcheck source=lib/slurm-conf.sh
. "$HERE/lib/slurm-conf.sh"

CLUSTER=${DII_SLURM_CLUSTER:-dii}
ACCOUNT=${DII_SLURM_ACCOUNT:-dii}
DB_PASS=${DII_SLURM_DB_PASS:-dii-slurm-db}
GPUS_PER_NODE=${DII_SLURM_GPUS_PER_NODE:-2}
PORT_BASE=${DII_SLURM_PORT_BASE:-6831}   # slurmd of nodeK listens on PORT_BASE + K - 1
GPU_DIR=/dev/dii-gpu
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
LOG_HINT="$LOG_DIR/ and /var/log/mysql*"
HOST=$(hostname -s)

usage() { sed -n '/^#   scripts/s/^#   //p' "$0"; exit "${1:-0}"; }

parse_args() {
  NODES=1 DOWN=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) [ $# -ge 2 ] || die "--nodes needs a number"; NODES=$2; shift 2 ;;
      --nodes=*) NODES=${1#--nodes=}; shift ;;
      --down) DOWN=1; shift ;;
      -h|--help) usage 0 ;;
      *) echo "$PROG: unknown argument '$1'" >&2; usage 2 ;;
    esac
  done
  [[ "$NODES" =~ ^[1-9][0-9]*$ ]] && [ "$NODES" -le 64 ] || die "--nodes wants 1..64, got '$NODES'"
  if [ "$NODES" = 1 ]; then NODE_LIST=$HOST; else NODE_LIST="node[1-$NODES]"; fi
}

# The node names this shape runs, one per line.
wanted_nodes() {
  if [ "$NODES" = 1 ]; then echo "$HOST"; else seq -f 'node%g' 1 "$NODES"; fi
}

# The node a running slurmd serves: its `-N NAME` argument, else the host name.
slurmd_node() {
  local args
  mapfile -d '' -t args <"/proc/$1/cmdline" 2>/dev/null || return 0
  local i
  for ((i = 0; i < ${#args[@]}; i++)); do
    [ "${args[$i]}" = -N ] && { echo "${args[$((i + 1))]:-}"; return; }
  done
  echo "$HOST"
}

# PIDs of the slurmds serving node NAME (none, normally one).
slurmd_pids_of() {
  local pid
  for pid in $(daemon_pids slurmd); do
    [ "$(slurmd_node "$pid")" = "$1" ] && echo "$pid"
  done
  return 0
}

stop_all() {
  local d
  for d in slurmd slurmctld slurmdbd; do
    # shellcheck disable=SC2046
    kill_and_wait $(daemon_pids "$d")
  done
}

# Stop the slurmds that belong to the other shape (e.g. `vm` after a switch to node1..node3).
stop_stray_slurmds() {
  local pid node stray=()
  for pid in $(daemon_pids slurmd); do
    node=$(slurmd_node "$pid")
    wanted_nodes | grep -qxF "$node" || stray+=("$pid")
  done
  [ ${#stray[@]} -eq 0 ] && return 0
  log "stopping ${#stray[@]} slurmd(s) of the other cluster shape"
  kill_and_wait "${stray[@]}"
}

start_munge() {
  mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  fi
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
  chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key; chmod 755 /run/munge
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    rm -f /run/munge/munge.socket.2 /run/munge/*.pid
    runuser -u munge -- /usr/sbin/munged --force || die "munged would not start"
    wait_for 10 munged sh -c 'munge -n | unmunge'
  fi
}

start_mariadb() {
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  if ! mysqladmin ping >/dev/null 2>&1; then
    if [ ! -d /var/lib/mysql/mysql ]; then
      mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null || die "mariadb-install-db failed"
    fi
    (setsid mysqld_safe >/dev/null 2>&1 &)
    wait_for 60 MariaDB mysqladmin ping
  fi
  mysql -u root <<SQL || die "could not create the slurm database/user in MariaDB"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '${DB_PASS}';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '${DB_PASS}';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL
}

# The emulated GPUs: char devices (major 240, "local/experimental use") that no driver claims;
# Slurm only needs them to exist to hand them out.  Recreated after a reboot empties /dev.
make_gpu_devices() {
  [ "$NODES" = 1 ] && return 0
  mkdir -p "$GPU_DIR"
  local k i dev
  for ((k = 1; k <= NODES; k++)); do
    for ((i = 0; i < GPUS_PER_NODE; i++)); do
      dev="$GPU_DIR/node$k-$i"
      [ -c "$dev" ] || mknod -m 0666 "$dev" c 240 $(( (k - 1) * GPUS_PER_NODE + i )) \
        || die "mknod $dev failed"
    done
  done
}

# install_conf NAME TEXT: replace $CONF_DIR/NAME when TEXT differs (empty TEXT: remove the file);
# succeeds when it changed something.
install_conf() {
  local path="$CONF_DIR/$1" text=$2
  if [ -z "$text" ]; then
    [ -e "$path" ] || return 1
    rm -f "$path"; return 0
  fi
  printf '%s\n' "$text" >"$path.new"
  if cmp -s "$path.new" "$path"; then rm -f "$path.new"; return 1; fi
  mv "$path.new" "$path"
}

write_configs() {
  mkdir -p "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd /run/slurm
  local node
  if [ "$NODES" != 1 ]; then
    for node in $(wanted_nodes); do mkdir -p "/var/spool/slurmd/$node"; done
  fi
  CTLD_CHANGED=0 DBD_CHANGED=0
  install_conf slurm.conf "$(slurm_conf)" && CTLD_CHANGED=1
  install_conf gres.conf "$(gres_conf)" && CTLD_CHANGED=1
  install_conf slurmdbd.conf "$(slurmdbd_conf)" && DBD_CHANGED=1
  chmod 644 "$CONF_DIR/slurm.conf"; chmod 600 "$CONF_DIR/slurmdbd.conf"
}

# started_before PID FILE...: the process is older than the newest FILE (so it runs an old config).
started_before() {
  local age newest
  age=$(ps -o etimes= -p "$1" 2>/dev/null) || return 1
  newest=$(stat -c %Y "${@:2}" 2>/dev/null | sort -n | tail -1) || true
  [ -n "$newest" ] && [ $(( $(date +%s) - age )) -lt "$newest" ]
}

# stale_pids CHANGED FILES DAEMON...: the PIDs of DAEMONs that must restart to read FILES
# (all of them when this call changed FILES; else those started before the last change, which
# an interrupted earlier call may have left behind).
stale_pids() {
  local changed=$1 files=$2 pid; shift 2
  # shellcheck disable=SC2086
  for pid in $(daemon_pids "$1"; [ $# -lt 2 ] || daemon_pids "$2"); do
    if [ "$changed" = 1 ] || started_before "$pid" $files; then echo "$pid"; fi
  done
  return 0
}

# A config change restarts the daemons that read it, so files and daemons never disagree.
restart_if_changed() {
  local ctld dbd
  ctld=$(stale_pids "$CTLD_CHANGED" "$CONF_DIR/slurm.conf $CONF_DIR/gres.conf" slurmctld slurmd)
  dbd=$(stale_pids "$DBD_CHANGED" "$CONF_DIR/slurmdbd.conf" slurmdbd)
  [ -n "$ctld$dbd" ] || return 0
  log "config changed: restarting$([ -z "$dbd" ] || echo " slurmdbd")$([ -z "$ctld" ] || echo " slurmctld and the slurmds")"
  # shellcheck disable=SC2086
  kill_and_wait $ctld $dbd
}

# Every user we add has an association with the account (the usual case on a repeat call).
has_associations() {
  local u
  for u in root ${SUDO_USER:-}; do
    sacctmgr -n -P list assoc cluster="$CLUSTER" user="$u" format=account 2>/dev/null \
      | grep -qx "$ACCOUNT" || return 1
  done
}

start_slurmdbd() {
  running slurmdbd || /usr/sbin/slurmdbd || die "slurmdbd would not start ($LOG_DIR/slurmdbd.log)"
  has_associations && return 0
  wait_for 60 slurmdbd sacctmgr -n list cluster
  sacctmgr -i -Q add cluster "$CLUSTER" >/dev/null 2>&1 || true
  sacctmgr -i -Q add account "$ACCOUNT" Cluster="$CLUSTER" Description=dii-hpc Organization=dii \
    >/dev/null 2>&1 || true
  local u
  for u in root ${SUDO_USER:-}; do
    sacctmgr -i -Q add user "$u" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" Cluster="$CLUSTER" \
      >/dev/null 2>&1 || true
  done
  has_associations || die "sacctmgr could not create the association root/$ACCOUNT on $CLUSTER"
}

start_slurmds() {
  local node
  for node in $(wanted_nodes); do
    [ -n "$(slurmd_pids_of "$node")" ] && continue
    if [ "$NODES" = 1 ]; then
      /usr/sbin/slurmd || die "slurmd would not start ($LOG_DIR/slurmd.log)"
    else
      /usr/sbin/slurmd -N "$node" || die "slurmd -N $node would not start ($LOG_DIR/slurmd-$node.log)"
    fi
  done
}

# Succeeds when every node of the shape is usable (idle, mix or alloc).
nodes_ready() {
  local ok
  ok=$(sinfo -h -N -n "$NODE_LIST" -o '%N %t' 2>/dev/null | sort -u | grep -Ec ' (idle|mix|alloc)' || true)
  [ "$ok" = "$NODES" ]
}

wait_nodes_ready() {
  nodes_ready && return 0
  local bad
  for _ in $(seq 90); do
    nodes_ready && return 0
    # A node left DOWN/DRAIN by an earlier crash (or not yet registered) comes back here.
    bad=$(sinfo -h -N -n "$NODE_LIST" -o '%N %t' 2>/dev/null | awk '$2 ~ /down|drain|unk|inval/ {print $1}' | sort -u | paste -sd, -)
    [ -z "$bad" ] || scontrol update NodeName="$bad" State=RESUME >/dev/null 2>&1 || true
    sleep 0.5
  done
  die "nodes $NODE_LIST are not all idle: $(sinfo -h -N -o '%N %t %E' 2>&1 | paste -sd';' -)"
}

start_slurm() {
  running slurmctld || /usr/sbin/slurmctld || die "slurmctld would not start ($LOG_DIR/slurmctld.log)"
  wait_for 30 slurmctld scontrol ping
  start_slurmds
  wait_nodes_ready
  wait_for 30 sacct sacct -n -X -S now-1minutes
}

summary() {
  local gres=""
  [ "$NODES" = 1 ] || gres=" gres=%G"
  echo "$PROG: cluster $CLUSTER up: $NODES node(s) $NODE_LIST [$(sinfo -h -N -n "$NODE_LIST" -o "%N %t cpus=%c mem=%mMB$gres" | sort -u | paste -sd';' -)], partition debug, accounting via slurmdbd, MaxArraySize=$(scontrol show config | sed -n 's/^MaxArraySize *= *//p')"
}

main() {
  parse_args "$@"
  if [ "$DOWN" = 1 ]; then
    stop_all
    log "slurm daemons stopped"
    return 0
  fi
  need_root "it starts munged, MariaDB and the Slurm daemons"
  install_packages slurm-wlm slurmdbd munge mariadb-server
  start_munge
  start_mariadb
  make_gpu_devices
  write_configs
  stop_stray_slurmds
  restart_if_changed
  start_slurmdbd
  start_slurm
  summary
}

main "$@"
