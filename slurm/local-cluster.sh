#!/usr/bin/env bash
# A real one-node SLURM on localhost (munged + slurmctld + slurmd) for development and
# the `slurm` test tier. Needs root; installs Debian's slurm-wlm + munge (no recommends,
# ~4 MB) when they are missing. No systemd needed: the daemons run as plain processes.
#
#   sudo slurm/local-cluster.sh start    # install if needed, configure, start
#   slurm/local-cluster.sh status        # sinfo + the PATH line for the sacct stand-in
#   sudo slurm/local-cluster.sh stop     # stop exactly the daemons `start` started
#
# After `start`, put the sacct stand-in first on PATH (submitit polls sacct; without
# accounting a cancelled job would otherwise be UNKNOWN forever and a multirun would hang):
#   export PATH=${GENLAB_SLURM_DIR:-/tmp/genlab-slurm}/bin:$PATH
#
# Env: GENLAB_SLURM_DIR  pid list + bin/sacct (default ${TMPDIR:-/tmp}/genlab-slurm)
#      SLURM_CPUS        advertise this many CPUs (default 8) so several 2-task jobs run at
#                        once on a small machine; 0 = the real count
#      SKIP_APT=1        never call apt-get
set -euo pipefail

DIR=${GENLAB_SLURM_DIR:-${TMPDIR:-/tmp}/genlab-slurm}
PIDS="$DIR/pids"
CPUS=${SLURM_CPUS:-8}
say() { echo "[local-cluster] $*"; }
die() { echo "[local-cluster] error: $*" >&2; exit 1; }

install_packages() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return 0
  [ "${SKIP_APT:-0}" = 1 ] && die "slurm-wlm/munge not installed and SKIP_APT=1"
  command -v apt-get >/dev/null || die "slurm-wlm/munge missing and no apt-get: install SLURM yourself"
  say "installing slurm-wlm munge (apt, no recommends)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then say "munged already running"; return; fi
  if [ ! -s /etc/munge/munge.key ]; then
    install -d -o munge -g munge -m 0700 /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  fi
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
  echo "munged $(cat /run/munge/munged.pid)" >> "$PIDS"
  munge -n | unmunge >/dev/null
}

write_conf() {
  local host=$1 hw extra=""
  # "CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
  hw=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //')
  if [ "$CPUS" != 0 ]; then
    local mem; mem=$(echo "$hw" | sed 's/.*RealMemory=\([0-9]*\).*/\1/')
    hw="CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$mem"
    # trust the config, not the hardware (else the node is drained)
    extra="SlurmdParameters=config_overrides"
  fi
  install -d -m 0755 /etc/slurm
  cat > /etc/slurm/slurm.conf <<EOF
# one-node SLURM for genlab development and tests (written by slurm/local-cluster.sh)
ClusterName=genlab
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
# a requeued job may start again after cred_expire seconds (default 120)
AuthInfo=cred_expire=10
MpiDefault=none
MailProg=/bin/true
# no cgroups in a container: track processes by parent pid, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
# scheduling passes every 2 s: a requeued job starts again within seconds
SchedulerParameters=bf_interval=2,sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
# no slurmdbd: bin/sacct below answers from squeue; keep finished jobs visible for a day
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=86400
# SIGTERM -> SIGKILL grace on cancel/requeue/timeout (default 30)
KillWait=10
${extra}
NodeName=${host} NodeAddr=127.0.0.1 ${hw} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

write_sacct() {
  # submitit polls `sacct -o JobID,State,NodeList --parsable2 -j ID ...`
  cat > "$DIR/bin/sacct" <<'EOF'
#!/bin/bash
# sacct stand-in for a SLURM without accounting: JobID|State|NodeList from squeue
ids=()
while [ $# -gt 0 ]; do
  case "$1" in
    -j|--jobs) ids+=("$2"); shift 2 ;;
    -j*) ids+=("${1#-j}"); shift ;;
    --jobs=*) ids+=("${1#--jobs=}"); shift ;;
    *) shift ;;
  esac
done
echo "JobID|State|NodeList"
for id in ${ids[@]+"${ids[@]}"}; do
  for one in ${id//,/ }; do squeue -h --states=all -j "$one" -o '%i|%T|%N' 2>/dev/null; done
done
exit 0
EOF
  chmod 0755 "$DIR/bin/sacct"
}

start() {
  [ "$(id -u)" = 0 ] || die "start needs root (it installs packages and starts daemons)"
  mkdir -p "$DIR/bin"
  if scontrol ping 2>/dev/null | grep -q UP; then
    say "a slurmctld is already up"; write_sacct; status; return
  fi
  install_packages
  start_munge
  local host; host=$(hostname -s)
  # Lightning/torch use the first host of SLURM_NODELIST as MASTER_ADDR
  getent hosts "$host" >/dev/null || echo "127.0.0.1 $host" >> /etc/hosts
  write_conf "$host"
  install -d -o slurm -g slurm -m 0755 /var/lib/slurm /var/lib/slurm/slurmctld /var/log/slurm
  install -d -m 0755 /var/lib/slurm/slurmd
  rm -f /var/lib/slurm/slurmctld/clustername
  slurmctld -c  # clean state: forget jobs of a previous cluster
  for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1; done
  scontrol ping | grep -q UP || { tail -20 /var/log/slurm/slurmctld.log; die "slurmctld did not come up"; }
  echo "slurmctld $(cat /run/slurmctld.pid)" >> "$PIDS"
  slurmd
  for _ in $(seq 50); do [ -s /run/slurmd.pid ] && break; sleep 0.1; done
  echo "slurmd $(cat /run/slurmd.pid)" >> "$PIDS"
  local state=""
  for _ in $(seq 100); do
    state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.2
  done
  if [ "$state" != idle ]; then
    scontrol update NodeName="$host" State=RESUME || true
    sleep 1; state=$(sinfo -h -n "$host" -o %t)
  fi
  [ "$state" = idle ] || { sinfo -R; tail -20 /var/log/slurm/slurmd.log; die "node $host is $state"; }
  write_sacct
  status
}

stop() {
  [ -f "$PIDS" ] || { say "nothing to stop (no $PIDS)"; return; }
  tac "$PIDS" | while read -r name pid; do
    # only signal a pid that is still the daemon we started
    if kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
      kill -TERM "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
      say "stopped $name ($pid)"
      # slurmctld (user slurm) cannot remove its root-owned pid file
      if [ "$name" = slurmctld ]; then rm -f /run/slurmctld.pid; fi
    fi
  done  # (no `a && b` as a loop's last command: under `set -e` its status failed `stop`)
  rm -f "$PIDS"
}

status() {
  sinfo
  say "export PATH=$DIR/bin:\$PATH   # sacct stand-in"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
