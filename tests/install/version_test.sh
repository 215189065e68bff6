# allot --version, allot version [--json] and the version line of allot --help.
# Usage: version_test.sh ALLOT SOURCE_DIR
source "$(dirname "$0")/lib.sh"
allot=$1 src=$2

line=$("$allot" --version)
[[ $line =~ ^allot\ ([0-9]+\.[0-9]+\.[0-9]+)\ \(commit\ ([0-9a-f]{12}|unknown)(-dirty)?,\ [A-Za-z]+,\ [A-Za-z]+\ [0-9.]+\)$ ]] ||
  fail "allot --version: unexpected line: $line"
version=${BASH_REMATCH[1]} commit=${BASH_REMATCH[2]}
grep -q "project(allot VERSION $version " "$src/CMakeLists.txt" || fail "version $version is not the project's"
if [[ -e $src/.git ]] && command -v git >/dev/null; then
  git -C "$src" cat-file -e "$commit^{commit}" 2>/dev/null || fail "commit $commit is not a commit of $src"
fi
"$allot" --help | sed -n 2p | grep -qxF "$line" || fail "allot --help does not show the version line"
"$allot" version | head -1 | grep -qxF "$line" || fail "allot version does not start with the version line"

json=$("$allot" version --json)
python3 - "$json" "$version" "$commit" <<'PY' || fail "allot version --json: $json"
import json, sys
j = json.loads(sys.argv[1])
assert j["version"] == sys.argv[2], j
assert j["commit"] == sys.argv[3], j
assert isinstance(j["dirty"], bool)
assert j["build_type"] and j["compiler"]
assert set(j["features"]) == {"etcd", "nvml", "dashboard"}, j
assert all(isinstance(v, bool) for v in j["features"].values())
PY

# Bad input: a clear message and exit 2.
set +e
err=$("$allot" version --bogus 2>&1 >/dev/null); rc=$?
set -e
[[ $rc -eq 2 && $err == *"unknown option --bogus"* ]] || fail "allot version --bogus: exit $rc, '$err'"
set +e
"$allot" --version extra >/dev/null 2>&1; rc=$?
set -e
[[ $rc -eq 2 ]] || fail "allot --version extra: exit $rc, expected 2"
echo "ok: $line"
