#!/usr/bin/env bash
# Installs, from Debian's packages, every real component the tests and the demo use.
# Does nothing when they are all present. Needs root (CI and the dev machines run as root).
set -euo pipefail
need=()
for pkg in docker-registry docker.io caddy skopeo podman runc buildah busybox-static openssh-server apache2-utils curl haproxy iproute2 iptables \
  golang-github-opencontainers-image-spec-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "Installing from Debian: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
# Debian starts some of these as services on install; the tests start their own on loopback.
# Only the units of what was just installed: one already there may be what the tests use.
for pair in caddy:caddy docker.io:docker docker-registry:docker-registry openssh-server:ssh haproxy:haproxy; do
  pkg=${pair%%:*} unit=${pair#*:}
  case " ${need[*]} " in *" $pkg "*) ;; *) continue ;; esac
  (command -v systemctl >/dev/null && systemctl stop "$unit" 2>/dev/null) || true
  (command -v service >/dev/null && service "$unit" stop >/dev/null 2>&1) || true
done
