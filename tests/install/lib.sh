# Helpers shared by the install tests (sourced). Every test fails with a message naming what was wrong.
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# A fresh temporary directory, removed when the test exits.
make_tmp() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/allot-install-test.XXXXXX")
  trap 'rm -rf "$TMP"' EXIT
}

# A TCP port on 127.0.0.1 that nothing listens on (never 7070).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The commands `allot --help` lists.
allot_commands() {
  "$1" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF > 0 {print $1}'
}
