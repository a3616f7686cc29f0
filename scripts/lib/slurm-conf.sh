# The configuration files slurm-up.sh writes.  Sourced by slurm-up.sh, which sets CLUSTER, HOST,
# NODES, NODE_LIST, LOG_DIR, DB_PASS, PORT_BASE, GPUS_PER_NODE and GPU_DIR first.
#
# One-node mode (NODES=1) is the laptop cluster: the host itself is the node, its real CPUs and
# memory, no GRES.  N-node mode emulates node1..nodeN on this host: one slurmd per node
# (`slurmd -N nodeK`, own Port and spool dir), each with GPUS_PER_NODE emulated GPUs.

# The host's CPUs and memory (MB), less what the daemons need: "CPUS MEM".
host_resources() {
  local mem
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  echo "$(nproc) $(( ${mem:-2048} - 512 ))"
}

# What each slurmd of the emulated cluster advertises, "CPUS MEM": the host split N ways, but at
# least 2 CPUs per node so multi-task jobs fit on one node.  Oversubscribing the host's CPUs is
# fine for an emulated cluster: SlurmdParameters=config_overrides makes slurmd report these
# figures instead of refusing a node with fewer CPUs than configured.
node_resources() {
  local cpus mem
  read -r cpus mem < <(host_resources)
  [ "$NODES" = 1 ] && { echo "$cpus $mem"; return; }
  cpus=$(( cpus / NODES )); [ "$cpus" -ge 2 ] || cpus=2
  echo "$cpus $(( mem / NODES ))"
}

# The lines that differ between the two modes: where each slurmd keeps its files, and the nodes.
slurm_conf_nodes() {
  local cpus mem
  read -r cpus mem < <(node_resources)
  if [ "$NODES" = 1 ]; then
    cat <<EOF
SlurmdSpoolDir=/var/spool/slurmd
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmdLogFile=$LOG_DIR/slurmd.log
NodeName=$HOST CPUs=$cpus RealMemory=$mem State=UNKNOWN
EOF
    return
  fi
  cat <<EOF
SlurmdSpoolDir=/var/spool/slurmd/%n
SlurmdPidFile=/run/slurm/slurmd-%n.pid
SlurmdLogFile=$LOG_DIR/slurmd-%n.log
SlurmdParameters=config_overrides
GresTypes=gpu
AccountingStorageTRES=gres/gpu
NodeName=$NODE_LIST NodeHostname=$HOST NodeAddr=127.0.0.1 Port=[$PORT_BASE-$(( PORT_BASE + NODES - 1 ))] CPUs=$cpus Sockets=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem Gres=gpu:$GPUS_PER_NODE State=UNKNOWN
EOF
}

slurm_conf() {
  local what="single-node test cluster"
  [ "$NODES" = 1 ] || what="$NODES emulated nodes on $HOST ($NODE_LIST, gpu:$GPUS_PER_NODE each)"
  cat <<EOF
# Written by dii-hpc scripts/slurm-up.sh: $what, with accounting.
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=10
StateSaveLocation=/var/spool/slurmctld
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
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
$(slurm_conf_nodes)
PartitionName=debug Nodes=$NODE_LIST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

# gres.conf of the emulated cluster: one line per node, because every slurmd reads the same file
# and keeps only the lines naming its own NodeName.  Empty in one-node mode (no file is written).
gres_conf() {
  [ "$NODES" = 1 ] && return 0
  echo "# Written by dii-hpc scripts/slurm-up.sh: emulated GPUs, device files made with mknod."
  local k
  for ((k = 1; k <= NODES; k++)); do
    echo "NodeName=node$k Name=gpu File=$GPU_DIR/node$k-[0-$(( GPUS_PER_NODE - 1 ))]"
  done
}

slurmdbd_conf() {
  cat <<EOF
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
}
