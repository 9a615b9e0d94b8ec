#!/usr/bin/env bash
# Starts the real services the tests and the demo use, on loopback, as the
# architecture notes describe: a Docker engine (vfs) that manages a two-node
# swarm with a second engine on 127.0.0.2, two OCI
# registries (open, and htpasswd-protected), Caddy with its admin API, and
# sshd for a remote engine over ssh://, and a server reached only by ssh in
# a network namespace of its own (netns-server.sh). Idempotent: what already answers is
# kept. Writes the addresses to $ANEW_SERVICES_DIR/env (sourced by tests).
#   bash test/services/start.sh          start (or reuse) and print the env file
#   bash test/services/start.sh stop     stop everything it started
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DIR=${ANEW_SERVICES_DIR:-/tmp/anew-services}
mkdir -p "$DIR"
ENV="$DIR/env"
SOCK="$DIR/docker.sock"
# The swarm's second node: its own engine, data root, exec root and socket.
SOCK2="$DIR/docker2.sock"
# The ssh host alias for the remote-engine tests, one per services folder, so two checkouts' services do not clash.
SSH_ALIAS="anew-ssh-$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)"
STATE=$DIR
# Up to 30 s: a fresh CI machine can be slow right after npm ci.
WAIT_SECONDS=30
WHO=""

stop_all() {
  bash "$(dirname "$0")/netns-server.sh" stop || true
  # The worker leaves the swarm and forgets it (its node is removed on the manager), so the next
  # start joins it afresh; the manager keeps its swarm in its data root and comes back with it.
  if alive dockerd2; then
    docker -H "unix://$SOCK2" swarm leave --force >/dev/null 2>&1 || true
    remove_containers "$SOCK2"
  fi
  if alive dockerd; then
    docker -H "unix://$SOCK" node ls --filter role=worker -q 2>/dev/null | xargs -r docker -H "unix://$SOCK" node rm --force >/dev/null 2>&1 || true
  fi
  if alive dockerd; then remove_containers "$SOCK"; fi
  stop_pidfiles "$DIR"
  rm -f "$ENV"
}
if [ "${1:-}" = stop ]; then stop_all; exit 0; fi

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
port_of() { [ -f "$DIR/$1.port" ] && cat "$DIR/$1.port"; }

# --- Docker engine -----------------------------------------------------------
if ! alive dockerd; then
  # What a stopped or killed engine left: its pid file would name a process id that may
  # belong to something else by now, and dockerd refuses to start beside a live one.
  rm -f "$SOCK" "$DIR/dockerd.pid.d"
  # vfs and cgroupfs because this machine has neither overlayfs in a container nor systemd.
  nohup dockerd --storage-driver vfs --iptables=false --ip6tables=false --bridge=none \
    --exec-opt native.cgroupdriver=cgroupfs --data-root "$DIR/docker-root" --exec-root "$DIR/docker-exec" \
    -H "unix://$SOCK" --pidfile "$DIR/dockerd.pid.d" >"$DIR/dockerd.log" 2>&1 &
  echo $! >"$DIR/dockerd.pid"
fi
wait_for dockerd docker -H "unix://$SOCK" version

# --- A two-node swarm: the engine above manages, a second engine on 127.0.0.2 works --
# All of 127.0.0.0/8 is loopback on Linux, so 127.0.0.2 is a second node address
# without a network. Listening on the node's own address (not 0.0.0.0) keeps the two
# engines' swarm ports (2377, gossip 7946) apart.
if [ "$(docker -H "unix://$SOCK" info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  docker -H "unix://$SOCK" swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
fi
if ! alive dockerd2; then
  rm -f "$SOCK2" "$DIR/dockerd2.pid.d"
  # The registries serve plain http on loopback: dockerd trusts 127.0.0.0/8 as insecure by default.
  nohup dockerd --storage-driver vfs --iptables=false --ip6tables=false --bridge=none \
    --exec-opt native.cgroupdriver=cgroupfs --data-root "$DIR/docker2-root" --exec-root "$DIR/docker2-exec" \
    -H "unix://$SOCK2" --pidfile "$DIR/dockerd2.pid.d" >"$DIR/dockerd2.log" 2>&1 &
  echo $! >"$DIR/dockerd2.pid"
fi
wait_for dockerd2 docker -H "unix://$SOCK2" version
if [ "$(docker -H "unix://$SOCK2" info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  # A node of the same name left behind (down) by a killed worker would stay listed: remove it first.
  docker -H "unix://$SOCK" node ls --filter role=worker --format '{{.ID}} {{.Status}}' |
    awk '$2 == "Down" { print $1 }' | xargs -r docker -H "unix://$SOCK" node rm --force >/dev/null
  docker -H "unix://$SOCK2" swarm join --token "$(docker -H "unix://$SOCK" swarm join-token -q worker)" \
    --advertise-addr 127.0.0.2 --listen-addr 127.0.0.2:2377 127.0.0.1:2377 >/dev/null
fi
# Both nodes are this machine, so the manager sees the worker at 127.0.0.1: the label tells
# anew the address that reaches that node's tasks (as for a node behind NAT in real life).
docker -H "unix://$SOCK" node update --label-add dev.anew.address=127.0.0.2 \
  "$(docker -H "unix://$SOCK2" info --format '{{.Swarm.NodeID}}')" >/dev/null
wait_for swarm sh -c "docker -H unix://$SOCK node ls --format '{{.Status}}' | grep -c '^Ready' | grep -qx 2"

# --- OCI registries (distribution 2.8, no referrers API) ---------------------
start_registry() { # name [htpasswd-file]
  local name=$1 auth=${2:-}
  if alive "$name"; then return; fi
  local port; port=$(free_port)
  mkdir -p "$DIR/$name-data"
  {
    echo "version: 0.1"
    echo "log: {level: warn, accesslog: {disabled: true}}"
    echo "storage: {filesystem: {rootdirectory: $DIR/$name-data}, delete: {enabled: true}}"
    echo "http: {addr: 127.0.0.1:$port}"
    if [ -n "$auth" ]; then echo "auth: {htpasswd: {realm: anew-test, path: $auth}}"; fi
  } >"$DIR/$name.yml"
  nohup docker-registry serve "$DIR/$name.yml" >"$DIR/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
  echo "$port" >"$DIR/$name.port"
}
start_registry registry
if [ ! -f "$DIR/htpasswd" ]; then htpasswd -Bbn anew-user anew-secret-pw >"$DIR/htpasswd"; fi
start_registry registry-auth "$DIR/htpasswd"
wait_for registry curl -fsS "http://127.0.0.1:$(port_of registry)/v2/"
wait_for registry-auth sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$(port_of registry-auth)/v2/ | grep -q 401"

# --- Caddy (admin API on loopback) -------------------------------------------
if ! alive caddy; then
  port=$(free_port)
  printf '{"admin":{"listen":"127.0.0.1:%s"}}\n' "$port" >"$DIR/caddy.json"
  nohup caddy run --config "$DIR/caddy.json" >"$DIR/caddy.log" 2>&1 &
  echo $! >"$DIR/caddy.pid"
  echo "$port" >"$DIR/caddy.port"
fi
wait_for caddy curl -fsS "http://127.0.0.1:$(port_of caddy)/config/"

# --- HAProxy 2.6, master-worker, as a user runs it for anew -------------------
# The master CLI socket is router-url; haproxy-anew.d is the folder anew owns
# (router-config), loaded with -f after the user's own file. It binds
# nothing until anew adds an environment (on the listen address it names).
if ! alive haproxy; then
  mkdir -p "$DIR/haproxy-anew.d"
  # expose-fd listeners: a reload hands the listening sockets over, so no connection is refused.
  printf 'global\n  maxconn 4096\n  stats socket %s mode 600 level admin expose-fd listeners\n' \
    "$DIR/haproxy-worker.sock" >"$DIR/haproxy.cfg"
  rm -f "$DIR/haproxy-master.sock"
  nohup haproxy -W -db -S "$DIR/haproxy-master.sock,mode,600" -f "$DIR/haproxy.cfg" -f "$DIR/haproxy-anew.d" \
    >"$DIR/haproxy.log" 2>&1 &
  echo $! >"$DIR/haproxy.pid"
fi
wait_for_haproxy "$DIR/haproxy-master.sock"

# --- sshd, for a remote engine over ssh:// -----------------------------------
if ! alive sshd; then
  port=$(free_port)
  [ -f "$DIR/ssh_host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/ssh_host_key"
  [ -f "$DIR/id_client" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/id_client"
  cp "$DIR/id_client.pub" "$DIR/authorized_keys"
  cat >"$DIR/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $DIR/ssh_host_key
PidFile $DIR/sshd.pid.d
AuthorizedKeysFile $DIR/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
SetEnv DOCKER_HOST=unix://$SOCK
CFG
  mkdir -p /run/sshd
  nohup "$(command -v sshd || echo /usr/sbin/sshd)" -D -e -f "$DIR/sshd_config" >"$DIR/sshd.log" 2>&1 &
  echo $! >"$DIR/sshd.pid"
  echo "$port" >"$DIR/sshd.port"
  # The docker CLI runs the system ssh; give it a host alias with our key and port.
  mkdir -p ~/.ssh && chmod 700 ~/.ssh
  touch ~/.ssh/config
  sed -i "/^# $SSH_ALIAS begin/,/^# $SSH_ALIAS end/d" ~/.ssh/config
  cat >>~/.ssh/config <<CFG
# $SSH_ALIAS begin (written by anew's test/services/start.sh for $DIR)
Host $SSH_ALIAS
  HostName 127.0.0.1
  Port $port
  User root
  IdentityFile $DIR/id_client
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
# $SSH_ALIAS end
CFG
fi
wait_for sshd ssh -o BatchMode=yes -o ConnectTimeout=5 "$SSH_ALIAS" true

# --- A server reached only by ssh, in a network namespace of its own ---------
bash "$(dirname "$0")/netns-server.sh" >/dev/null

cat >"$ENV" <<EOF2
export ANEW_SERVICES_DIR=$DIR
export ANEW_DOCKER_HOST=unix://$SOCK
export ANEW_SWARM_MANAGER=unix://$SOCK
export ANEW_SWARM_WORKER=unix://$SOCK2
export ANEW_SWARM_WORKER_ADDR=127.0.0.2
export ANEW_REGISTRY=127.0.0.1:$(port_of registry)
export ANEW_REGISTRY_AUTH=127.0.0.1:$(port_of registry-auth)
export ANEW_REGISTRY_AUTH_USER=anew-user
export ANEW_REGISTRY_AUTH_PASSWORD=anew-secret-pw
export ANEW_CADDY_ADMIN=http://127.0.0.1:$(port_of caddy)
export ANEW_SSH_DOCKER_HOST=ssh://$SSH_ALIAS
export ANEW_HAPROXY_MASTER=unix://$DIR/haproxy-master.sock
export ANEW_HAPROXY_CONFIG=$DIR/haproxy-anew.d
EOF2
cat "$DIR/netns-server/env" >>"$ENV"
cat "$ENV"
