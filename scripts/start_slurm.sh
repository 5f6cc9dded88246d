#!/usr/bin/env bash
# A single-node SLURM on this machine, for the SLURM tests, the `archtune bench slurm` benchmark and
# trying the SLURM recipe of docs/parallel.md without a cluster.
#
#   scripts/start_slurm.sh start [STATE_DIR]   install slurm-wlm + munge when missing (root, Debian/Ubuntu),
#                                              start munged, slurmctld and slurmd; idempotent
#   scripts/start_slurm.sh stop  [STATE_DIR]   stop the daemons this script started
#   scripts/start_slurm.sh status [STATE_DIR]  exit 0 when the cluster answers
#
# Then `export SLURM_CONF=STATE_DIR/slurm.conf` and sbatch/squeue/scancel (and dask-jobqueue) talk to it.
# STATE_DIR defaults to /tmp/archtune-slurm; ARCHTUNE_SLURM_CPUS sets the node's CPU count (default 8,
# more than this machine may have: `SlurmdParameters=config_overrides` lets SLURM trust the configuration,
# so that 4 or 8 one-core jobs whose work is mostly waiting can run side by side on a 2-core machine).
#
# No systemd and no cgroups: ProctrackType=proctrack/linuxproc, TaskPlugin=task/none (what a container
# allows). One node named "archtune" at 127.0.0.1 in one partition "debug". Jobs run as the submitting user.
set -euo pipefail

cmd="${1:-start}"
dir="${2:-${ARCHTUNE_SLURM_DIR:-/tmp/archtune-slurm}}"
cpus="${ARCHTUNE_SLURM_CPUS:-8}"
ctld_port="${ARCHTUNE_SLURM_CTLD_PORT:-6817}"
slurmd_port="${ARCHTUNE_SLURM_SLURMD_PORT:-6818}"
conf="$dir/slurm.conf"
export SLURM_CONF="$conf"

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

answers() { timeout 10 sinfo -h -o '%T' 2>/dev/null | grep -Eq 'idle|mixed|allocated|completing'; }

install_packages() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "start_slurm.sh: slurm-wlm and munge are not installed and this is not root: cannot install them" >&2
    return 1
  fi
  command -v apt-get >/dev/null || { echo "start_slurm.sh: no apt-get to install slurm-wlm and munge" >&2; return 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q slurm-wlm munge >/dev/null; }
}

start_munge() {
  # munged refuses to run as root; it runs as the munge user the package created, with its key
  mkdir -p /run/munge /var/lib/munge /var/log/munge /etc/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge /etc/munge
  chmod 0755 /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  fi
}

write_conf() {
  local host mem
  host="$(hostname -s)"
  # RealMemory as the machine has it (MB): dask-jobqueue asks for --mem; memory is not a consumable
  # (CR_CPU), so jobs only need to fit in it one by one
  mem="$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)"
  mkdir -p "$dir/state" "$dir/spool" "$dir/jobs"
  cat >"$conf" <<EOF
ClusterName=archtune
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# quick ends: a cancelled or timed-out job gets SIGTERM, then SIGKILL 5 s later
KillWait=5
InactiveLimit=0
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=60
# preemption as clusters configure it: a job of the higher tier (partition urgent) takes the CPUs of
# running debug jobs, which SLURM requeues (or cancels, for a job submitted with --no-requeue)
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
NodeName=archtune NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=archtune Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=urgent Nodes=archtune MaxTime=INFINITE State=UP PriorityTier=2
EOF
}

start() {
  install_packages
  start_munge
  if running "$dir/slurmctld.pid" && running "$dir/slurmd.pid" && answers; then
    echo "SLURM already running (SLURM_CONF=$conf)"
    return 0
  fi
  write_conf
  running "$dir/slurmctld.pid" || slurmctld -c -f "$conf"  # -c: a clean start, no jobs from an old run
  running "$dir/slurmd.pid" || slurmd -N archtune -f "$conf"
  for _ in $(seq 150); do
    if answers; then
      scontrol update nodename=archtune state=resume >/dev/null 2>&1 || true
      echo "SLURM running (SLURM_CONF=$conf)"
      return 0
    fi
    sleep 0.2
  done
  echo "start_slurm.sh: SLURM did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
  tail -5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
  return 1
}

stop() {
  scancel --full --quiet --partition=debug 2>/dev/null || true
  for daemon in slurmd slurmctld; do
    if running "$dir/$daemon.pid"; then
      pid="$(cat "$dir/$daemon.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  echo "SLURM stopped ($dir)"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) answers ;;
  *) echo "usage: $0 start|stop|status [STATE_DIR]" >&2; exit 2 ;;
esac
