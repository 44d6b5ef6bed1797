#!/usr/bin/env bash
# A multi-host test bed on one machine: hosts ppsd-h1..ppsd-hN, each a network namespace with its
# own network stack (interface eth0, address 10.77.0.1<i>/24), joined by the bridge ppsd-br whose
# address in the root namespace is 10.77.0.1 (where a client or gateway on this machine binds).
# Needs root and iproute2. This kernel has no tc netem and no netfilter, so a partition is a host's
# link taken down; a frozen node is `kill -STOP`; a crash is `kill -9`.
#
#   cluster-configs/testbed.sh up 3            # hosts ppsd-h1..ppsd-h3
#   cluster-configs/testbed.sh run 2 ./ppsd node --config my-node.conf --seed 10.77.0.11:25520
#                                              # a command on host 2 (PPSD_HOST set to its address)
#   cluster-configs/testbed.sh partition 2     # cut host 2 off; `heal 2` reconnects it
#   cluster-configs/testbed.sh down            # stop every process in the hosts, remove them
set -euo pipefail
BRIDGE=ppsd-br
NET=10.77.0

addr() { echo "$NET.1$1"; }

up() {
  local n=${1:?usage: testbed.sh up N}
  if (( n < 1 || n > 9 )); then echo "testbed.sh: 1 to 9 hosts, not $n" >&2; exit 2; fi
  down >/dev/null 2>&1 || true
  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  for i in $(seq 1 "$n"); do
    ip netns add "ppsd-h$i"
    ip link add "ppsd-v$i" type veth peer name "ppsd-v$i-br"
    ip link set "ppsd-v$i-br" master "$BRIDGE"
    ip link set "ppsd-v$i-br" up
    ip link set "ppsd-v$i" netns "ppsd-h$i"
    ip -n "ppsd-h$i" link set "ppsd-v$i" name eth0
    ip -n "ppsd-h$i" addr add "$(addr "$i")/24" dev eth0
    ip -n "ppsd-h$i" link set lo up
    ip -n "ppsd-h$i" link set eth0 up
    ip -n "ppsd-h$i" route add default via "$NET.1"
  done
  echo "testbed: $n host(s) $(for i in $(seq 1 "$n"); do printf '%s ' "ppsd-h$i=$(addr "$i")"; done)on bridge $BRIDGE ($NET.1)"
}

down() {
  for ns in $(ip netns list 2>/dev/null | awk '/^ppsd-h[0-9]/ {print $1}'); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns"
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  echo "testbed: removed"
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down ;;
  run) i=${2:?usage: testbed.sh run I COMMAND...}; shift 2; exec ip netns exec "ppsd-h$i" env PPSD_HOST="$(addr "$i")" "$@" ;;
  partition) ip -n "ppsd-h${2:?usage: testbed.sh partition I}" link set eth0 down ;;
  heal) ip -n "ppsd-h${2:?usage: testbed.sh heal I}" link set eth0 up; ip -n "ppsd-h$2" route add default via "$NET.1" 2>/dev/null || true ;;
  addr) addr "${2:?usage: testbed.sh addr I}" ;;
  *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
