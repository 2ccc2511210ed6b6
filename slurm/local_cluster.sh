#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests and CI (needs root and the Debian packages
# slurmctld slurmd slurm-client munge). Everything lives in one folder; nothing under /etc is changed
# except that munged runs with the packaged key.
#
#   slurm/local_cluster.sh start DIR   # writes DIR/slurm.conf, starts munged, slurmctld, slurmd;
#                                      # prints the line `export SLURM_CONF=DIR/slurm.conf`
#   slurm/local_cluster.sh stop DIR    # stops the daemons by their pid files
#
# The partition is called `ratetest`. There is no accounting (sacct fails); use squeue/scontrol.
set -euo pipefail

action="${1:?usage: local_cluster.sh start|stop DIR}"
dir="$(mkdir -p "${2:?usage: local_cluster.sh start|stop DIR}" && cd "$2" && pwd)"
host="$(hostname -s)"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

stop() {
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    if [ -s "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
  done
  # wait briefly so that ports and the munge socket are free for the next start
  for _ in $(seq 50); do
    alive=0
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
      [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && alive=1
    done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  rm -f "$dir"/*.pid "$dir"/munge/*.pid
}

start() {
  for tool in munged slurmctld slurmd sbatch; do
    command -v "$tool" >/dev/null || { echo "local_cluster.sh: $tool not found (apt-get install slurmctld slurmd slurm-client munge)" >&2; exit 1; }
  done
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
  # munged runs as the munge user: it must be able to reach DIR, and it owns (and keeps private from
  # writers) its own folder inside it.
  chmod 0755 "$dir"
  if ! runuser -u munge -- test -x "$dir"; then
    echo "local_cluster.sh: the munge user cannot reach $dir; use a folder whose parents are world-executable" >&2
    exit 1
  fi
  chown munge:munge "$dir/munge"
  chmod 0755 "$dir/munge"
  runuser -u munge -- munged --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" --force

  # from here on, a failure stops whatever was already started
  trap 'stop; exit 1' ERR
  local node ctld_port slurmd_port
  node="$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')"
  ctld_port="$(free_port)"
  slurmd_port="$(free_port)"
  cat > "$dir/slurm.conf" <<EOF
ClusterName=ratetest
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${ctld_port}
SlurmdPort=${slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=3600
# Job ids differ between clusters started at different times, so logs/<name>_<jobid>.out never collide.
FirstJobId=$(( $(date +%s) % 60000000 + 1 ))
NodeName=${host} NodeAddr=127.0.0.1 ${node} State=UNKNOWN
PartitionName=ratetest Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  for _ in $(seq 100); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "export SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.2
  done
  echo "local_cluster.sh: the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
  stop
  exit 1
}

case "$action" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: local_cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
