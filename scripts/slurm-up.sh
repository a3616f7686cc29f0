#!/usr/bin/env bash
# Brings up a REAL single-node Slurm cluster with accounting on this machine, as root, without
# systemd: munged, MariaDB (mysqld_safe), slurmdbd, slurmctld, slurmd, then the sacctmgr
# cluster/account/user.  Idempotent: daemons already answering are left alone, so CI and
# developers can call it before every test run.
#
# Settings chosen so integration tests are quick and deterministic:
#   one partition `debug` (Default=YES) with this node's real CPUs and memory,
#   MaxArraySize=1001, KillWait=5, OverTimeLimit=0, cred_expire=10 (requeued jobs restart fast),
#   jobacct_gather/linux (sacct has MaxRSS), proctrack/linuxproc + task/none (no cgroups needed).
#
#   scripts/slurm-up.sh          bring it up (or check that it is up)
#   scripts/slurm-up.sh --down   stop the Slurm daemons (MariaDB and munged stay)
set -euo pipefail

CLUSTER=${DII_SLURM_CLUSTER:-dii}
ACCOUNT=${DII_SLURM_ACCOUNT:-dii}
DB_PASS=${DII_SLURM_DB_PASS:-dii-slurm-db}
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
NODE=$(hostname -s)

die() { echo "slurm-up: $*" >&2; exit 1; }
log() { [ -n "${DII_SLURM_QUIET:-}" ] || echo "slurm-up: $*" >&2; }

# wait_for SECONDS DESCRIPTION CMD... : poll CMD every 0.5 s until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local i
  for ((i = 0; i < secs * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "$what did not come up within ${secs}s (see $LOG_DIR/ and /var/log/mysql*)"
}

running() { pgrep -x "$1" >/dev/null 2>&1; }

if [ "${1:-}" = "--down" ]; then
  for d in slurmd slurmctld slurmdbd; do
    pid=$(pgrep -x "$d" || true)
    [ -n "$pid" ] && kill $pid 2>/dev/null || true
  done
  log "slurm daemons stopped"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (it starts munged, MariaDB and the Slurm daemons)"

install_packages() {
  local missing=() p
  for p in slurm-wlm slurmdbd munge mariadb-server; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null || die "apt-get install ${missing[*]} failed"
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

write_configs() {
  local cpus mem
  cpus=$(nproc)
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  mem=$(( ${mem:-2048} - 512 ))   # leave room for the daemons themselves
  mkdir -p "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd /run/slurm
  cat >"$CONF_DIR/slurm.conf.new" <<EOF
# Written by dii-hpc scripts/slurm-up.sh: single-node test cluster with accounting.
ClusterName=$CLUSTER
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ReturnToService=2
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=5,sched_min_interval=100000,defer_batch=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MaxArraySize=1001
MaxJobCount=20000
MinJobAge=300
KillWait=5
OverTimeLimit=0
InactiveLimit=0
MessageTimeout=10
SlurmctldTimeout=30
SlurmdTimeout=60
JobRequeue=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobCompType=jobcomp/none
NodeName=$NODE CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  cat >"$CONF_DIR/slurmdbd.conf.new" <<EOF
# Written by dii-hpc scripts/slurm-up.sh
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=/run/slurm/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
  CONF_CHANGED=0
  local f
  for f in slurm.conf slurmdbd.conf; do
    if ! cmp -s "$CONF_DIR/$f.new" "$CONF_DIR/$f"; then
      mv "$CONF_DIR/$f.new" "$CONF_DIR/$f"; CONF_CHANGED=1
    else
      rm -f "$CONF_DIR/$f.new"
    fi
  done
  chmod 644 "$CONF_DIR/slurm.conf"; chmod 600 "$CONF_DIR/slurmdbd.conf"
}

# A config change restarts the Slurm daemons so the file and the daemons never disagree.
restart_if_changed() {
  [ "$CONF_CHANGED" = 1 ] || return 0
  local d pid
  for d in slurmd slurmctld slurmdbd; do
    pid=$(pgrep -x "$d" || true)
    if [ -n "$pid" ]; then log "config changed: restarting $d"; kill $pid 2>/dev/null || true; fi
  done
  for d in slurmd slurmctld slurmdbd; do
    for _ in $(seq 40); do running "$d" || break; sleep 0.25; done
  done
}

start_slurmdbd() {
  running slurmdbd || /usr/sbin/slurmdbd || die "slurmdbd would not start ($LOG_DIR/slurmdbd.log)"
  wait_for 60 slurmdbd sacctmgr -n list cluster
  sacctmgr -i -Q add cluster "$CLUSTER" >/dev/null 2>&1 || true
  sacctmgr -i -Q add account "$ACCOUNT" Cluster="$CLUSTER" Description=dii-hpc Organization=dii \
    >/dev/null 2>&1 || true
  local u
  for u in root ${SUDO_USER:-}; do
    sacctmgr -i -Q add user "$u" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" Cluster="$CLUSTER" \
      >/dev/null 2>&1 || true
  done
  sacctmgr -n -P list assoc cluster="$CLUSTER" user=root format=account | grep -qx "$ACCOUNT" \
    || die "sacctmgr could not create the association root/$ACCOUNT on $CLUSTER"
}

start_slurm() {
  running slurmctld || /usr/sbin/slurmctld || die "slurmctld would not start ($LOG_DIR/slurmctld.log)"
  wait_for 30 slurmctld scontrol ping
  running slurmd || /usr/sbin/slurmd || die "slurmd would not start ($LOG_DIR/slurmd.log)"
  node_idle() { sinfo -h -n "$NODE" -o %t | grep -Eq '^(idle|mix|alloc)'; }
  if ! node_idle; then
    for _ in $(seq 60); do
      node_idle && break
      # A node left DOWN/DRAIN by an earlier crash comes back here.
      if sinfo -h -n "$NODE" -o %t | grep -Eq 'down|drain|unk'; then
        scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
      fi
      sleep 0.5
    done
  fi
  node_idle || die "node $NODE is not idle: $(sinfo -h -N -o '%N %t %E' 2>&1)"
  wait_for 30 sacct sacct -n -X -S now-1minutes
}

install_packages
start_munge
start_mariadb
write_configs
restart_if_changed
start_slurmdbd
start_slurm
echo "slurm-up: cluster $CLUSTER up: node $NODE $(sinfo -h -n "$NODE" -o '%t cpus=%c mem=%mMB'), partition debug, accounting via slurmdbd, MaxArraySize=$(scontrol show config | sed -n 's/^MaxArraySize *= *//p')"
