#!/usr/bin/env bash
# Installs the Debian packages allot needs to build and test. Idempotent and quiet when all is present.
# Usage: scripts/install-deps.sh [build|test|run|deb|fuzz]
set -euo pipefail
need=(cmake ninja-build g++ pkg-config ccache libyaml-cpp-dev libsimdjson-dev libfyaml-dev nlohmann-json3-dev libgtest-dev libgmock-dev
      libbenchmark-dev libsqlite3-dev sqlite3 libssl-dev zlib1g-dev curl python3 python3-dev pybind11-dev)
case "${1:-build}" in
  test) need+=(prometheus kubernetes-client etcd-server etcd-client redis-server python3-psutil python3-yaml python3-pytest openssl
               groff-base man-db zsh fish systemd dpkg-dev file chromium) ;;
  deb) need+=(dpkg-dev file) ;;
  fuzz) need+=(clang-14 libclang-rt-14-dev) ;;
esac
# kubectl: Debian's kubernetes-client, unless a kubectl is already installed (another package, such as
# Kubernetes' own `kubectl`, may own /usr/bin/kubectl; installing both fails).
if command -v kubectl >/dev/null 2>&1; then
  need=("${need[@]/kubernetes-client}")
fi
# Node.js and npm build the dashboard (web/): Debian's, unless they are already installed (a nodejs from
# elsewhere carries its own npm, which Debian's npm package would conflict with).
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
missing=()
for p in "${need[@]}"; do
  [ -n "$p" ] || continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
