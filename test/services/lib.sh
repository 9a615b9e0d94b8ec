# Shared by the service scripts (start.sh, netns-server.sh): stopping what they started.

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
