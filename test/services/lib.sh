# Shared by the service scripts (start.sh, netns-server.sh): starting and stopping what they run.
# Each sets STATE (the folder of its pid, log and wait files), WAIT_SECONDS and WHO (a prefix for
# its messages) before it uses these.

# alive NAME: the process STATE/NAME.pid names is running.
alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

# wait_for NAME COMMAND...: runs COMMAND until it succeeds, for up to WAIT_SECONDS; else says what the
# last try said and the end of NAME's log, and exits.
wait_for() {
  local name=$1; shift
  local deadline=$((SECONDS + WAIT_SECONDS))
  while [ $SECONDS -lt $deadline ]; do
    "$@" >/dev/null 2>"$STATE/$name.wait" && return 0
    sleep 0.2
  done
  echo "${WHO}$name did not come up; the last check said:" >&2; cat "$STATE/$name.wait" >&2 || true
  echo "its log:" >&2; tail -20 "$STATE/$name.log" >&2 || true; exit 1
}

# wait_for_haproxy SOCKET: until HAProxy's master on SOCKET has a worker.
wait_for_haproxy() {
  wait_for haproxy node -e '
    const s = require("net").connect(process.argv[1], () => s.end("show proc\n"));
    let out = ""; s.on("data", (d) => (out += d));
    s.on("close", () => process.exit(/worker/.test(out) ? 0 : 1)); s.on("error", () => process.exit(1));
  ' "$1"
}

# remove_containers SOCKET: every container of the engine on that socket. Containers go first:
# their shims outlive dockerd, and their ports with them.
remove_containers() {
  local ids
  ids=$(docker -H "unix://$1" ps -aq 2>/dev/null || true)
  [ -z "$ids" ] || docker -H "unix://$1" rm -f $ids >/dev/null 2>&1 || true
}

# stop_pidfiles DIR: kills every process a DIR/*.pid names and waits (up to 30 s) until all have
# ended, so a restart finds them gone: dockerd stops its containers first, up to 10 s each.
stop_pidfiles() {
  local pids=() p pid left
  for p in "$1"/*.pid; do
    [ -f "$p" ] || continue
    pids+=("$(cat "$p")")
    kill "${pids[-1]}" 2>/dev/null || true
    rm -f "$p"
  done
  for _ in $(seq 1 300); do
    left=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
}
