#!/usr/bin/env bash
# A "server" reached only by ssh, as a workflow on a hosted runner meets its
# own: a Docker engine, HAProxy (master-worker) and sshd in a network
# namespace of their own, joined to this one by a veth pair. From outside
# only its ssh port and the router's public listen ports answer: a firewall
# inside the namespace drops the rest (the engine's TCP port and HAProxy's
# stats port listen there on purpose, so the tests can show they are not
# reachable). The engine pulls from the test registry through the same
# link: an ssh remote forward puts the registry on the namespace's loopback
# at the address the tests push to.
#
# Addresses: a /30 of 169.254.0.0/16 (link-local) on the veth pair. A
# link-local address is never routed off its link, and this /30 exists only
# on this pair, inside this machine: nothing beyond it can be reached or
# disturbed. The third octet comes from the services folder (100-159, never
# 169, the cloud metadata's), so two checkouts' servers do not clash.
#   bash test/services/netns-server.sh        start (or reuse); prints its env lines
#   bash test/services/netns-server.sh stop   stop what it started and remove the namespace
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DIR=${ANEW_SERVICES_DIR:-/tmp/anew-services}
SRV="$DIR/netns-server"
ID=$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)
NS="anew-srv-$ID"
OCTET=$((100 + ID % 60))
OUT_IP="169.254.$OCTET.1"
SRV_IP="169.254.$OCTET.2"
VETH_OUT="anv${ID: -6}o"
VETH_IN="anv${ID: -6}i"
ROUTER_PORTS=18080:18089
DOCKER_TCP=2375
STATS_PORT=9999
# nsenter joins the network namespace only: `ip netns exec` would also remount /sys, hiding the cgroups dockerd needs.
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }
# In the background, nohup and nsenter exec what they run, so $! is the server's own pid (which stop
# kills); the in_ns function would put a subshell between them, whose death leaves the server running.
NS_EXEC=(nsenter --net="/run/netns/$NS")
STATE=$SRV
WAIT_SECONDS=60
WHO="netns server: "

stop_all() {
  if alive dockerd; then remove_containers "$SRV/docker.sock"; fi
  stop_pidfiles "$SRV"
  ip netns del "$NS" 2>/dev/null || true
  ip link del "$VETH_OUT" 2>/dev/null || true
  [ -f ~/.ssh/config ] && sed -i "/^# $NS begin/,/^# $NS end/d" ~/.ssh/config
  rm -f "$SRV/env"
}
if [ "${1:-}" = stop ]; then stop_all; exit 0; fi

mkdir -p "$SRV"
[ -f "$DIR/id_client" ] || { echo "netns server: run test/services/start.sh (it makes the ssh key)" >&2; exit 1; }

# --- The namespace, the link, the firewall -----------------------------------
ip netns list | grep -qw "$NS" || ip netns add "$NS"
if ! ip link show "$VETH_OUT" >/dev/null 2>&1; then
  ip link add "$VETH_OUT" type veth peer name "$VETH_IN"
  ip link set "$VETH_IN" netns "$NS"
fi
ip addr replace "$OUT_IP/30" dev "$VETH_OUT"
ip link set "$VETH_OUT" up
in_ns ip addr replace "$SRV_IP/30" dev "$VETH_IN"
in_ns ip link set "$VETH_IN" up
in_ns ip link set lo up
# Replaced whole each time (iptables-restore flushes the table): the same rules however often it runs.
in_ns iptables-restore <<RULES
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -i $VETH_IN -p tcp --dport 22 -j ACCEPT
-A INPUT -i $VETH_IN -p tcp --dport $ROUTER_PORTS -j ACCEPT
COMMIT
RULES

# --- Docker engine (its own data root, exec root and socket) -----------------
if ! alive dockerd; then
  rm -f "$SRV/docker.sock" "$SRV/dockerd.pid.d"
  # The TCP listener is what a careless server exposes; the firewall keeps it in.
  nohup "${NS_EXEC[@]}" dockerd --storage-driver vfs --iptables=false --ip6tables=false --bridge=none \
    --exec-opt native.cgroupdriver=cgroupfs --data-root "$SRV/docker-root" --exec-root "$SRV/docker-exec" \
    -H "unix://$SRV/docker.sock" -H "tcp://0.0.0.0:$DOCKER_TCP" --pidfile "$SRV/dockerd.pid.d" \
    >"$SRV/dockerd.log" 2>&1 &
  echo $! >"$SRV/dockerd.pid"
fi
wait_for dockerd docker -H "unix://$SRV/docker.sock" version

# --- HAProxy 2.6, master-worker, as docs/routers.md tells a user -------------
if ! alive haproxy; then
  mkdir -p "$SRV/haproxy-anew.d"
  printf 'global\n  maxconn 4096\n  stats socket %s mode 600 level admin expose-fd listeners\n  stats socket ipv4@0.0.0.0:%s level user\n' \
    "$SRV/haproxy-worker.sock" "$STATS_PORT" >"$SRV/haproxy.cfg"
  rm -f "$SRV/haproxy-master.sock"
  nohup "${NS_EXEC[@]}" haproxy -W -db -S "$SRV/haproxy-master.sock,mode,600" -f "$SRV/haproxy.cfg" \
    -f "$SRV/haproxy-anew.d" >"$SRV/haproxy.log" 2>&1 &
  echo $! >"$SRV/haproxy.pid"
fi
wait_for_haproxy "$SRV/haproxy-master.sock"

# --- sshd on the link's address ----------------------------------------------
if ! alive sshd; then
  [ -f "$SRV/ssh_host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$SRV/ssh_host_key"
  cat >"$SRV/sshd_config" <<CFG
Port 22
ListenAddress $SRV_IP
HostKey $SRV/ssh_host_key
PidFile $SRV/sshd.pid.d
AuthorizedKeysFile $DIR/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
SetEnv DOCKER_HOST=unix://$SRV/docker.sock
CFG
  mkdir -p /run/sshd
  nohup "${NS_EXEC[@]}" "$(command -v sshd || echo /usr/sbin/sshd)" -D -e -f "$SRV/sshd_config" >"$SRV/sshd.log" 2>&1 &
  echo $! >"$SRV/sshd.pid"
fi
# The runner's ssh knows the server by its address, with the key an agent would hold.
mkdir -p ~/.ssh && chmod 700 ~/.ssh && touch ~/.ssh/config
if ! grep -q "^# $NS begin" ~/.ssh/config; then
  cat >>~/.ssh/config <<CFG
# $NS begin (written by anew's test/services/netns-server.sh for $DIR)
Host $SRV_IP
  User root
  IdentityFile $DIR/id_client
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
# $NS end
CFG
fi
wait_for sshd ssh -o BatchMode=yes -o ConnectTimeout=5 "root@$SRV_IP" true

# --- The registry, on the server's loopback, through the ssh link ------------
for reg in registry registry-auth; do
  port=$(cat "$DIR/$reg.port")
  # A registry started again has a new port: the old forward goes with it.
  if alive "forward-$reg" && [ "$(cat "$SRV/forward-$reg.port" 2>/dev/null)" != "$port" ]; then
    kill "$(cat "$SRV/forward-$reg.pid")" 2>/dev/null || true
    rm -f "$SRV/forward-$reg.pid"
  fi
  if ! alive "forward-$reg"; then
    echo "$port" >"$SRV/forward-$reg.port"
    nohup ssh -N -o BatchMode=yes -o ExitOnForwardFailure=yes -o ServerAliveInterval=15 \
      -R "127.0.0.1:$port:127.0.0.1:$port" "root@$SRV_IP" >"$SRV/forward-$reg.log" 2>&1 &
    echo $! >"$SRV/forward-$reg.pid"
  fi
  wait_for "forward-$reg" in_ns curl -sS -o /dev/null "http://127.0.0.1:$port/v2/"
done

cat >"$SRV/env" <<EOF2
export ANEW_NETNS_NAME=$NS
export ANEW_NETNS_SERVER=$SRV_IP
export ANEW_NETNS_DOCKER_HOST=ssh://root@$SRV_IP
export ANEW_NETNS_DOCKER_SOCK=unix://$SRV/docker.sock
export ANEW_NETNS_HAPROXY_MASTER=$SRV/haproxy-master.sock
export ANEW_NETNS_HAPROXY_CONFIG=$SRV/haproxy-anew.d
export ANEW_NETNS_ROUTER_PORTS=$ROUTER_PORTS
export ANEW_NETNS_CLOSED_PORTS=$DOCKER_TCP,$STATS_PORT
EOF2
cat "$SRV/env"
