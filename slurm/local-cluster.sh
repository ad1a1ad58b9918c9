#!/usr/bin/env bash
# A real SLURM on localhost (munged + slurmctld + slurmd) for development and the `slurm`
# test tier. Needs root; installs Debian's slurm-wlm + munge (no recommends, ~4 MB) when
# they are missing. No systemd needed: the daemons run as plain processes.
#
#   sudo slurm/local-cluster.sh start            # one node: this host, 127.0.0.1
#   sudo slurm/local-cluster.sh start --nodes 2  # N nodes, each its own netns + hostname
#   slurm/local-cluster.sh status                # sinfo -N + the PATH line for sacct
#   sudo slurm/local-cluster.sh fail-node genlab-n2     # power loss: kill all in its netns
#   sudo slurm/local-cluster.sh restore-node genlab-n2  # its slurmd again, node idle
#   sudo slurm/local-cluster.sh stop             # undo everything `start` did (idempotent)
#
# With --nodes N (N >= 2) node i is `genlab-n<i>`: a slurmd in its own network namespace
# (ip netns genlab-n<i>) and UTS namespace (hostname genlab-n<i>), with one veth link to a
# bridge `genlab-br0` in this (the controller's) namespace on the private 10.213.77.0/24
# (GENLAB_SLURM_NET to change it): controller .1, node i .(10+i). The namespaces have no
# other route, so job traffic stays on that bridge. Node names resolve through /etc/hosts
# lines marked `# genlab-local-cluster` (shared by every namespace, removed by `stop`).
# munge (a Unix socket) and the filesystem are shared: every node sees the same paths.
#
# After `start`, put the sacct stand-in first on PATH (submitit polls sacct; without
# accounting a cancelled job would otherwise be UNKNOWN forever and a multirun would hang):
#   export PATH=${GENLAB_SLURM_DIR:-/tmp/genlab-slurm}/bin:$PATH
#
# Env: GENLAB_SLURM_DIR  pid list + bin/sacct (default ${TMPDIR:-/tmp}/genlab-slurm)
#      SLURM_CPUS        advertise this many CPUs (default 8) so several 2-task jobs run at
#                        once on a small machine; 0 = the real count
#      SKIP_APT=1        never call apt-get
#      GENLAB_SLURM_NET  the /24 of the multi-node bridge, as its first 3 octets (10.213.77)
set -euo pipefail

DIR=${GENLAB_SLURM_DIR:-${TMPDIR:-/tmp}/genlab-slurm}
PIDS="$DIR/pids"
CPUS=${SLURM_CPUS:-8}
NET=${GENLAB_SLURM_NET:-10.213.77}
BRIDGE=genlab-br0
MARK="# genlab-local-cluster"
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

# Hardware line of every node: "CPUs=8 Boards=1 ... RealMemory=24105" (this machine's)
node_hw() {
  local hw mem
  hw=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //')
  [ "$CPUS" = 0 ] && { echo "$hw"; return; }
  mem=$(echo "$hw" | sed 's/.*RealMemory=\([0-9]*\).*/\1/')
  echo "CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$mem"
}

# write_conf HOST NODES: one node = this host at 127.0.0.1; more = genlab-n1.. on the bridge
write_conf() {
  local host=$1 nodes=$2 hw ctl_addr=127.0.0.1 suffix="" extra="" node_lines i
  hw=$(node_hw)
  # trust the config, not the hardware (else the node is drained)
  [ "$CPUS" != 0 ] && extra="SlurmdParameters=config_overrides"
  node_lines="NodeName=${host} NodeAddr=127.0.0.1 ${hw} State=UNKNOWN"
  if [ "$nodes" -gt 1 ]; then
    ctl_addr="$NET.1"
    suffix="-%n"  # several slurmd share /run, /var/lib and /var/log: one file each
    node_lines=""
    for i in $(seq "$nodes"); do
      node_lines+="NodeName=genlab-n$i NodeAddr=$NET.$((10 + i)) ${hw} State=UNKNOWN"$'\n'
    done
  fi
  install -d -m 0755 /etc/slurm
  cat > /etc/slurm/slurm.conf <<EOF
# ${nodes}-node SLURM for genlab development and tests (written by slurm/local-cluster.sh)
ClusterName=genlab
SlurmctldHost=${host}(${ctl_addr})
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
# a node whose slurmd stops answering is DOWN (its jobs failed) after 30 s (default 300)
SlurmdTimeout=30
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd${suffix}.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd${suffix}
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd${suffix}.log
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
${node_lines}
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

# ------------------------------------------------------------------ the multi-node network
# Everything made here is listed in $DIR/made ("netns NAME", "link NAME", "hosts") so that
# `stop` removes exactly that, however far `start` got.
made() { echo "$*" >> "$DIR/made"; }

make_network() {
  local nodes=$1 i ns
  ip -4 addr show | grep -q "inet $NET\." && die "$NET.0/24 is already in use here; set GENLAB_SLURM_NET"
  ip -4 route show | grep -q "^$NET\." && die "$NET.0/24 is already routed here; set GENLAB_SLURM_NET"
  ip link add "$BRIDGE" type bridge && made "link $BRIDGE"
  ip addr add "$NET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  for i in $(seq "$nodes"); do
    ns=genlab-n$i
    ip netns add "$ns" && made "netns $ns"
    # veth pair: gl-n<i> on the bridge here, eth0 inside the node
    ip link add "gl-n$i" type veth peer name "gl-n$i-in" && made "link gl-n$i"
    ip link set "gl-n$i-in" netns "$ns"
    ip -n "$ns" link set "gl-n$i-in" name eth0
    ip -n "$ns" addr add "$NET.$((10 + i))/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip link set "gl-n$i" master "$BRIDGE" up
  done
  # names every namespace resolves (they all read this /etc/hosts)
  made "hosts"
  { echo "$NET.1 genlab-ctl $MARK"
    for i in $(seq "$nodes"); do echo "$NET.$((10 + i)) genlab-n$i $MARK"; done
  } >> /etc/hosts
}

# start_node NAME: its slurmd inside its netns, in a new UTS namespace named NAME
start_node() {
  local ns=$1 pidfile=/run/slurmd-$1.pid
  install -d -m 0755 "/var/lib/slurm/slurmd-$ns"
  rm -f "$pidfile"
  # nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroup fs slurmd reads
  nsenter --net="/run/netns/$ns" unshare --uts sh -c "hostname $ns && exec slurmd" ||
    { tail -5 "/var/log/slurm/slurmd-$ns.log"; die "slurmd of $ns failed"; }
  for _ in $(seq 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
  [ -s "$pidfile" ] || { tail -20 "/var/log/slurm/slurmd-$ns.log"; die "slurmd of $ns did not start"; }
  echo "slurmd $(cat "$pidfile")" >> "$PIDS"
}

wait_idle() {  # wait_idle NODE...: every node idle (a node left down* is resumed once)
  local node state
  for node in "$@"; do
    state=""
    for _ in $(seq 100); do
      state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
      [ "$state" = idle ] && break
      sleep 0.2
    done
    if [ "$state" != idle ]; then
      scontrol update NodeName="$node" State=RESUME || true
      sleep 1; state=$(sinfo -h -n "$node" -o %t)
    fi
    [ "$state" = idle ] || { sinfo -R; die "node $node is $state"; }
  done
}

start() {
  local nodes=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) nodes=${2:-}; shift 2 || die "--nodes needs a number" ;;
      --nodes=*) nodes=${1#--nodes=}; shift ;;
      *) die "unknown option '$1' (start [--nodes N])" ;;
    esac
  done
  [[ "$nodes" =~ ^[1-9][0-9]*$ ]] || die "--nodes must be a positive integer, not '$nodes'"
  [ "$(id -u)" = 0 ] || die "start needs root (it installs packages and starts daemons)"
  mkdir -p "$DIR/bin"
  if scontrol ping 2>/dev/null | grep -q UP; then
    say "a slurmctld is already up"; write_sacct; status; return
  fi
  install_packages
  start_munge
  local host i names=()
  host=$(hostname -s)
  # Lightning/torch use the first host of SLURM_NODELIST as MASTER_ADDR
  getent hosts "$host" >/dev/null || echo "127.0.0.1 $host" >> /etc/hosts
  [ "$nodes" -gt 1 ] && make_network "$nodes"
  write_conf "$host" "$nodes"
  install -d -o slurm -g slurm -m 0755 /var/lib/slurm /var/lib/slurm/slurmctld /var/log/slurm
  install -d -m 0755 /var/lib/slurm/slurmd
  rm -f /var/lib/slurm/slurmctld/clustername
  slurmctld -c  # clean state: forget jobs of a previous cluster
  for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1; done
  scontrol ping | grep -q UP || { tail -20 /var/log/slurm/slurmctld.log; die "slurmctld did not come up"; }
  echo "slurmctld $(cat /run/slurmctld.pid)" >> "$PIDS"
  if [ "$nodes" = 1 ]; then
    slurmd
    for _ in $(seq 50); do [ -s /run/slurmd.pid ] && break; sleep 0.1; done
    echo "slurmd $(cat /run/slurmd.pid)" >> "$PIDS"
    names=("$host")
  else
    for i in $(seq "$nodes"); do start_node "genlab-n$i"; names+=("genlab-n$i"); done
  fi
  wait_idle "${names[@]}"
  write_sacct
  status
}

# fail_node NAME: what a power loss does to a node: every process in its netns (slurmd,
# slurmstepd, the job's ranks) killed at once
fail_node() {
  local ns=$1 pids
  ip netns list | grep -qw "^$ns" || die "no node $ns (start --nodes N makes genlab-n1..N)"
  pids=$(ip netns pids "$ns")
  [ -n "$pids" ] && kill -KILL $pids
  say "killed every process of $ns: ${pids//$'\n'/ }"
}

restore_node() {
  ip netns list | grep -qw "^$1" || die "no node $1"
  start_node "$1"
  wait_idle "$1"
  say "$1 is back"
}

stop() {
  if [ -f "$PIDS" ]; then
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
  else
    say "no daemons to stop (no $PIDS)"
  fi
  remove_network
}

remove_network() {
  [ -f "$DIR/made" ] || return 0
  local kind name pids
  tac "$DIR/made" | while read -r kind name; do
    case "$kind" in
      netns)
        # what is left in a node (slurmstepd, a job's ranks) ran under our slurmd
        pids=$(ip netns pids "$name" 2>/dev/null || true)
        if [ -n "$pids" ]; then kill -KILL $pids; fi
        if ip netns list | grep -qw "^$name"; then ip netns del "$name"; say "removed netns $name"; fi ;;
      link)
        if ip link show "$name" >/dev/null 2>&1; then ip link del "$name"; say "removed link $name"; fi ;;
      hosts)
        # rewritten in place: /etc/hosts may be a bind mount that cannot be replaced
        if grep -q "$MARK\$" /etc/hosts; then
          grep -v "$MARK\$" /etc/hosts > "$DIR/hosts.tmp" || true
          cat "$DIR/hosts.tmp" > /etc/hosts && rm -f "$DIR/hosts.tmp"
          say "removed the genlab-local-cluster lines of /etc/hosts"
        fi ;;
    esac
  done
  rm -f "$DIR/made"
}

status() {
  sinfo -N
  say "export PATH=$DIR/bin:\$PATH   # sacct stand-in"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start) start "$@" ;;
  stop) stop ;;
  status) status ;;
  fail-node) fail_node "${1:?fail-node NAME}" ;;
  restore-node) restore_node "${1:?restore-node NAME}" ;;
  *) echo "usage: $0 start [--nodes N]|stop|status|fail-node NAME|restore-node NAME" >&2; exit 2 ;;
esac
